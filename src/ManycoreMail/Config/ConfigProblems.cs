namespace ManycoreMail.Config;

/// <summary>Collects every configuration problem so that one start reports all of them at once.</summary>
internal sealed class ConfigProblems
{
    private readonly List<string> _errors = [];
    private readonly List<string> _warnings = [];
    /// <summary>Values read from the environment or a file, as problems quote them ('value'), and what to say instead.</summary>
    private readonly Dictionary<string, string> _concealed = new(StringComparer.Ordinal);

    public IReadOnlyList<string> Errors => _errors;
    public IReadOnlyList<string> Warnings => _warnings;

    public void Error(string file, string key, string problem) => _errors.Add($"{file}: {key}: {Concealing(problem)}");

    public void Warning(string file, string key, string problem) => _warnings.Add($"{file}: {key}: {Concealing(problem)}");

    /// <summary>Secrets never reach a log: a problem quoting <paramref name="value"/> names its source instead.</summary>
    public void Conceal(string value, string source)
    {
        if (value.Length > 0)
        {
            _concealed[$"'{value}'"] = $"(the value of {source})";
        }
    }

    private string Concealing(string problem)
    {
        foreach (var (quoted, replacement) in _concealed)
        {
            problem = problem.Replace(quoted, replacement, StringComparison.Ordinal);
        }
        return problem;
    }
}

/// <summary>Thrown when configuration is invalid; the message lists every problem, one per line.</summary>
internal sealed class ConfigException(IReadOnlyList<string> problems)
    : Exception("Invalid configuration:" + Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => "  " + p)))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
