using ManycoreMail.TestSupport;

namespace ManycoreMail.Classification.Tests;

/// <summary>
/// The corpus shipped in tests/fixtures/corpus holds only mails the project may redistribute, each labelled and
/// credited, and stays a faithful copy of the research corpus it was taken from.
/// </summary>
public sealed class BundledCorpusTests
{
    private static readonly HashSet<string> ShippableLicences = new(StringComparer.Ordinal) { "BSD-2-Clause", "BSD-3-Clause", "MIT" };

    [Fact]
    public void Every_bundled_mail_is_labelled_once_and_every_label_has_its_mail()
    {
        var corpus = TestData.Corpus;
        var labelled = corpus.Labels.Select(label => label.File).ToList();
        var mails = Directory.EnumerateFiles(corpus.Directory, "*.eml").Select(Path.GetFileName).ToList();

        Assert.Equal(labelled.Count, labelled.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(labelled.Order(StringComparer.Ordinal), mails.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_bundled_mail_has_a_shippable_licence_and_is_credited_in_the_notice()
    {
        var notice = File.ReadAllText(Path.Combine(TestData.Corpus.Directory, "NOTICE.md"));

        Assert.All(TestData.Corpus.Labels, label =>
        {
            Assert.Contains(label.License, ShippableLicences);
            Assert.Contains($"| `{label.File}` | {label.SourceRepo} | `{label.SourcePath}` | `{label.SourceCommit}` | {label.License} |", notice, StringComparison.Ordinal);
        });
    }

    [SharedCorpusFact]
    public void The_bundled_corpus_is_exactly_the_shippable_part_of_the_shared_corpus_byte_for_byte()
    {
        var shared = TestData.SharedCorpus!;
        var shippable = shared.Labels.Where(label => ShippableLicences.Contains(label.License)).ToList();
        var names = shippable.Select(label => label.File).ToHashSet(StringComparer.Ordinal);
        var sharedLines = File.ReadAllLines(Path.Combine(shared.Directory, LabelledCorpus.LabelsFile));

        // Same columns, same rows, same order: the bundled labels.tsv is the shared one with the other rows left out.
        Assert.Equal(
            sharedLines.Take(1).Concat(sharedLines.Skip(1).Where(line => names.Contains(line.Split('\t')[0]))),
            File.ReadAllLines(Path.Combine(TestData.Corpus.Directory, LabelledCorpus.LabelsFile)));
        Assert.All(shippable, label => Assert.Equal(File.ReadAllBytes(shared.PathOf(label)), File.ReadAllBytes(TestData.Corpus.PathOf(label))));
    }

    [Fact]
    public void All_corpus_files_lists_each_mail_once_and_every_bundled_one()
    {
        var all = TestData.AllCorpusFiles().ToList();
        var names = all.Select(Path.GetFileName).ToList();

        Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
        Assert.All(all, file => Assert.True(File.Exists(file), file));
        Assert.Subset(all.ToHashSet(), TestData.Corpus.Files.ToHashSet());
        var expected = TestData.Corpus.Labels.Select(label => label.File)
            .Union(TestData.SharedCorpus?.Labels.Select(label => label.File) ?? [], StringComparer.Ordinal);
        Assert.Equal(expected.Order(StringComparer.Ordinal), names.Order(StringComparer.Ordinal));
    }
}
