using System.Reflection;

namespace ManycoreMail.Metrics;

/// <summary>The version this build carries: the assembly's informational version (set from <c>git describe</c> at build
/// when git is there, see Directory.Build.props), as <c>mailer --version</c> prints it and <c>mailer_build_info</c> labels it.</summary>
internal static class BuildVersion
{
    public static string Text { get; } =
        typeof(BuildVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(BuildVersion).Assembly.GetName().Version?.ToString()
        ?? "unknown";
}
