using System.Globalization;
using System.Text;
using ManycoreMail.TestSupport;
using Xunit.Abstractions;

namespace ManycoreMail.Classification.Tests;

/// <summary>
/// The quality bar on corpora of real bounces, complaints and auto-replies: the mails bundled in
/// tests/fixtures/corpus (the BSD and MIT licensed part, so it holds on a fresh clone) and, where it exists beside
/// the repository, the full research corpus. Prints the exact figures and the worst cases.
/// </summary>
public sealed class CorpusQualityTests(ITestOutputHelper output)
{
    [Fact]
    public void Classifier_meets_the_quality_thresholds_on_the_bundled_corpus() =>
        MeetsTheThresholds(TestData.Corpus, minimumMails: 250);

    [SharedCorpusFact]
    public void Classifier_meets_the_quality_thresholds_on_the_full_shared_corpus() =>
        MeetsTheThresholds(TestData.SharedCorpus!, minimumMails: 300);

    private void MeetsTheThresholds(LabelledCorpus corpus, int minimumMails)
    {
        Assert.True(corpus.Labels.Count >= minimumMails, $"{corpus.Directory} has only {corpus.Labels.Count} labelled mails");

        var classifier = new MailClassifier();
        var score = new CorpusScore();
        foreach (var label in corpus.Labels)
        {
            score.Add(label, classifier.Classify(File.ReadAllBytes(corpus.PathOf(label))));
        }

        output.WriteLine(score.Report());
        Assert.True(score.Kind.Rate >= 0.95, $"kind {score.Kind}");
        Assert.True(score.Type.Rate >= 0.90, $"type {score.Type}");
        Assert.True(score.Recipient.Rate >= 0.90, $"recipient {score.Recipient}");
        Assert.True(score.Status.Rate >= 0.90, $"status {score.Status}");
        Assert.True(score.Class.Rate >= 0.80, $"class {score.Class}");
    }
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

    public void Add(CorpusLabel row, MailClassification verdict)
    {
        var kind = ClassificationJson.KindName(verdict.Kind);
        var expectedKind = ExpectedKind(row);
        var kindRight = kind == expectedKind;
        Kind.Add(kindRight);
        if (!kindRight)
        {
            _misses.Add($"KIND   {row.File}: expected {expectedKind}, got {kind} ({verdict.Evidence})");
        }
        if (row.Kind != "bounce")
        {
            return;
        }
        var ours = verdict.Recipients;
        BounceRecipient? Match(int i)
        {
            if (row.Recipients.Count > i)
            {
                var found = ours.FirstOrDefault(r => r.Address.Equals(row.Recipients[i], StringComparison.OrdinalIgnoreCase));
                if (found is not null)
                {
                    return found;
                }
            }
            return i < ours.Count ? ours[i] : null;
        }
        void Score(Ratio rate, string name, IReadOnlyList<string> expected, Func<BounceRecipient, string, bool> same, Func<BounceRecipient, string> show)
        {
            if (expected.Count == 0)
            {
                return;
            }
            var right = true;
            var got = new StringBuilder();
            for (var i = 0; i < expected.Count; i++)
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
        Score(Status, "STATUS", row.DsnStatuses, (r, e) => IsPseudo(e) ? r.Status?[0] == e[0] : r.Status == e, r => r.Status ?? "-");
        Score(Class, "CLASS", row.SisimaiReasons, (r, e) => r.Class == e, r => r.Class + " [" + r.Diagnostic[..Math.Min(100, r.Diagnostic.Length)] + "]");
        if (row.Recipients.Count > 0)
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

    // The MX server reports an unsubscribe request as its own kind; the corpus files it under "other".
    private static string ExpectedKind(CorpusLabel row) => row.Subkind == "unsubscribe-request" ? "unsubscribe" : row.Kind;

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
