using Microsoft.AspNetCore.Builder;

namespace ManycoreMail.Hosting;

/// <summary>How every Kestrel server of the process is made.</summary>
internal static class WebHostBuilders
{
    /// <summary>
    /// ASP.NET Core's slim builder, without its watch on the working directory. By default the host reads
    /// appsettings.json from the working directory and watches it for changes with a FileSystemWatcher over the
    /// whole tree below. Nothing of ours is configured there, and in the image the working directory is /data, the
    /// spool: every write to the spool's log woke the watcher (2–3% of the process's CPU at 1,000 messages/s).
    /// The content root is the application's own directory instead, and nothing is reloaded.
    /// </summary>
    public static WebApplicationBuilder CreateSlim() => WebApplication.CreateSlimBuilder(new WebApplicationOptions
    {
        ContentRootPath = AppContext.BaseDirectory,
        Args = ["--hostBuilder:reloadConfigOnChange=false"],
    });
}
