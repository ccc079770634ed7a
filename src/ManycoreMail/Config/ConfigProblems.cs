namespace ManycoreMail.Config;

/// <summary>Collects every configuration problem so that one start reports all of them at once.</summary>
internal sealed class ConfigProblems
{
    private readonly List<string> _errors = [];
    private readonly List<string> _warnings = [];

    public IReadOnlyList<string> Errors => _errors;
    public IReadOnlyList<string> Warnings => _warnings;

    public void Error(string file, string key, string problem) => _errors.Add($"{file}: {key}: {problem}");

    public void Warning(string file, string key, string problem) => _warnings.Add($"{file}: {key}: {problem}");
}

/// <summary>Thrown when configuration is invalid; the message lists every problem, one per line.</summary>
internal sealed class ConfigException(IReadOnlyList<string> problems)
    : Exception("Invalid configuration:" + Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => "  " + p)))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
