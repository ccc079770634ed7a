using BenchmarkDotNet.Attributes;
using ManycoreMail.Classification;

namespace ManycoreMail.Benchmarks;

/// <summary>The MX server's classifier on real mails: every mail of the bundled corpus (tests/fixtures/corpus: bounces
/// from 80+ MTA families, ARF reports, auto-replies, ordinary mail) per operation, on one thread. Mails per second
/// per core = mails / mean time.</summary>
[MemoryDiagnoser]
public class ClassifierBenchmarks
{
    private readonly MailClassifier _classifier = new();
    private byte[][] _mails = [];

    [GlobalSetup]
    public void Setup()
    {
        _mails = Directory.EnumerateFiles(CorpusDirectory(), "*.eml").Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToArray();
        Console.WriteLine($"// {_mails.Length} mails, {_mails.Sum(m => (long)m.Length)} bytes");
    }

    [Benchmark(Description = "classify the bundled corpus")]
    public int ClassifyCorpus()
    {
        var bounces = 0;
        foreach (var mail in _mails)
        {
            bounces += _classifier.Classify(mail).Recipients.Count;
        }
        return bounces;
    }

    private static string CorpusDirectory()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var corpus = Path.Combine(directory.FullName, "tests", "fixtures", "corpus");
            if (Directory.Exists(corpus))
            {
                return corpus;
            }
        }
        throw new DirectoryNotFoundException($"tests/fixtures/corpus not found above {AppContext.BaseDirectory}");
    }
}
