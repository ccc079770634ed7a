using System.Globalization;
using System.Text;
using Xunit.Abstractions;

namespace ManycoreMail.Classification.Tests;

/// <summary>
/// The quality bar on the shared corpus of real bounces, complaints and auto-replies
/// (../shared/corpus/public, read in place, never copied). Prints the exact figures and the worst cases.
/// </summary>
public sealed class CorpusQualityTests(ITestOutputHelper output)
{
    [Fact]
    public void Classifier_meets_the_quality_thresholds_on_the_public_corpus()
    {
        var directory = CorpusDirectory();
        var rows = LabelRow.ReadAll(Path.Combine(directory, "labels.tsv"));
        Assert.True(rows.Count > 300, $"corpus has only {rows.Count} labelled mails");

        var classifier = new MailClassifier();
        var score = new CorpusScore();
        foreach (var row in rows)
        {
            var verdict = classifier.Classify(File.ReadAllBytes(Path.Combine(directory, row.File)));
            score.Add(row, verdict);
        }

        output.WriteLine(score.Report());
        Assert.True(score.Kind.Rate >= 0.95, $"kind {score.Kind}");
        Assert.True(score.Type.Rate >= 0.90, $"type {score.Type}");
        Assert.True(score.Recipient.Rate >= 0.90, $"recipient {score.Recipient}");
        Assert.True(score.Status.Rate >= 0.90, $"status {score.Status}");
        Assert.True(score.Class.Rate >= 0.80, $"class {score.Class}");
    }

    internal static string CorpusDirectory()
    {
        var here = AppContext.BaseDirectory;
        for (var dir = new DirectoryInfo(here); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "corpus", "public");
            if (File.Exists(Path.Combine(candidate, "labels.tsv")))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException("shared/corpus/public not found above " + here);
    }
}

internal sealed record LabelRow(string File, string Kind, string Subkind, string[] Recipients, string[] Statuses, string[] Classes, string[] StatusClasses)
{
    public static List<LabelRow> ReadAll(string path)
    {
        var lines = System.IO.File.ReadAllLines(path);
        var header = lines[0].Split('\t');
        int Column(string name) => Array.IndexOf(header, name);
        var rows = new List<LabelRow>();
        foreach (var line in lines.Skip(1))
        {
            if (line.Length == 0)
            {
                continue;
            }
            var cells = line.Split('\t');
            string[] Values(string name) => cells[Column(name)] == "-" ? [] : cells[Column(name)].Split(';');
            rows.Add(new LabelRow(cells[Column("file")], cells[Column("kind")], cells[Column("subkind")],
                Values("recipient"), Values("dsn_status"), Values("sisimai_reason"), Values("status_class")));
        }
        return rows;
    }

    public string ExpectedKind => Subkind == "unsubscribe-request" ? "unsubscribe" : Kind;
}

internal sealed class Ratio
{
    public int Correct { get; private set; }
    public int Total { get; private set; }
    public double Rate => Total == 0 ? 1 : (double)Correct / Total;

    public void Add(bool correct)
    {
        Total++;
        if (correct)
        {
            Correct++;
        }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Correct}/{Total} = {100.0 * Rate:F1}%");
}

/// <summary>How each labelled value is scored. Multi-recipient labels are compared recipient by recipient
/// (matched by address where the label names them, else by position); a mail counts as right when all are.
/// sisimai's pseudo-statuses (x.0.9xx: "the mail stated no code") are scored on the class digit only.</summary>
internal sealed class CorpusScore
{
    private readonly List<string> _misses = [];

    public Ratio Kind { get; } = new();
    public Ratio Type { get; } = new();
    public Ratio Status { get; } = new();
    public Ratio Recipient { get; } = new();
    public Ratio Class { get; } = new();

    public void Add(LabelRow row, MailClassification verdict)
    {
        var kind = ClassificationJson.KindName(verdict.Kind);
        var kindRight = kind == row.ExpectedKind;
        Kind.Add(kindRight);
        if (!kindRight)
        {
            _misses.Add($"KIND   {row.File}: expected {row.ExpectedKind}, got {kind} ({verdict.Evidence})");
        }
        if (row.Kind != "bounce")
        {
            return;
        }
        var ours = verdict.Recipients;
        BounceRecipient? Match(int i)
        {
            if (row.Recipients.Length > i)
            {
                var found = ours.FirstOrDefault(r => r.Address.Equals(row.Recipients[i], StringComparison.OrdinalIgnoreCase));
                if (found is not null)
                {
                    return found;
                }
            }
            return i < ours.Count ? ours[i] : null;
        }
        void Score(Ratio rate, string name, string[] expected, Func<BounceRecipient, string, bool> same, Func<BounceRecipient, string> show)
        {
            if (expected.Length == 0)
            {
                return;
            }
            var right = true;
            var got = new StringBuilder();
            for (var i = 0; i < expected.Length; i++)
            {
                var r = Match(i);
                got.Append(r is null ? "(none)" : show(r)).Append(';');
                right &= r is not null && same(r, expected[i]);
            }
            rate.Add(right);
            if (!right)
            {
                _misses.Add($"{name,-6} {row.File}: expected {string.Join(';', expected)}, got {got.ToString().TrimEnd(';')} ({verdict.Evidence})");
            }
        }
        Score(Type, "TYPE", row.StatusClasses, (r, e) => (r.Type == BounceTypes.Soft ? "transient" : "permanent") == e, r => r.Type);
        Score(Status, "STATUS", row.Statuses, (r, e) => IsPseudo(e) ? r.Status?[0] == e[0] : r.Status == e, r => r.Status ?? "-");
        Score(Class, "CLASS", row.Classes, (r, e) => r.Class == e, r => r.Class + " [" + r.Diagnostic[..Math.Min(100, r.Diagnostic.Length)] + "]");
        if (row.Recipients.Length > 0)
        {
            var right = row.Recipients.All(e => ours.Any(r => r.Address.Equals(e, StringComparison.OrdinalIgnoreCase)))
                && ours.Count > 0 && row.Recipients.Contains(ours[0].Address, StringComparer.OrdinalIgnoreCase);
            Recipient.Add(right);
            if (!right)
            {
                _misses.Add($"RCPT   {row.File}: expected {string.Join(';', row.Recipients)}, got {string.Join(';', ours.Select(r => r.Address))} ({verdict.Evidence})");
            }
        }
    }

    private static bool IsPseudo(string status) =>
        status.Split('.') is [_, _, var detail] && int.TryParse(detail, CultureInfo.InvariantCulture, out var n) && n >= 900;

    public string Report()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"kind      {Kind}");
        text.AppendLine(CultureInfo.InvariantCulture, $"type      {Type}");
        text.AppendLine(CultureInfo.InvariantCulture, $"status    {Status}");
        text.AppendLine(CultureInfo.InvariantCulture, $"recipient {Recipient}");
        text.AppendLine(CultureInfo.InvariantCulture, $"class     {Class}");
        text.AppendLine("misses:");
        foreach (var miss in _misses.OrderBy(m => m, StringComparer.Ordinal))
        {
            text.AppendLine(miss);
        }
        return text.ToString();
    }
}
