namespace ManycoreMail.TestSupport;

/// <summary>
/// The one place tests find their data. Everything a test needs ships in tests/fixtures, so a fresh clone
/// passes on its own; the research corpus in a <c>shared</c> folder beside the repository (or above it) is
/// used in addition when present, because part of it may not be shipped (LGPL and Perl-licensed mails).
/// </summary>
public static class TestData
{
    private static readonly Lazy<string> Root = new(FindRepositoryRoot);
    private static readonly Lazy<LabelledCorpus> Bundled = new(() => LabelledCorpus.Load(Path.Combine(FixturesFolder, "corpus")));
    private static readonly Lazy<LabelledCorpus?> Shared = new(FindSharedCorpus);

    /// <summary>The folder holding ManycoreMail.slnx.</summary>
    public static string RepositoryRoot => Root.Value;

    /// <summary>The original system's test mails (top level) and the outputs its code produced (synthetic/).</summary>
    public static string OriginalFixtures => Path.Combine(FixturesFolder, "original-system");

    /// <summary>The bounces, complaints and auto-replies that may be shipped (BSD and MIT licensed), with labels.</summary>
    public static LabelledCorpus Corpus => Bundled.Value;

    /// <summary>The full research corpus (shared/corpus/public beside or above the repository), or null without it.</summary>
    public static LabelledCorpus? SharedCorpus => Shared.Value;

    /// <summary>An original-system fixture by file name: the top level first, then synthetic/.</summary>
    public static string FixturePath(string name)
    {
        foreach (var candidate in (ReadOnlySpan<string>)[Path.Combine(OriginalFixtures, name), Path.Combine(OriginalFixtures, "synthetic", name)])
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException($"No fixture '{name}' in {OriginalFixtures} or its synthetic/ folder");
    }

    public static byte[] Fixture(string name) => File.ReadAllBytes(FixturePath(name));

    /// <summary>
    /// Every corpus mail available here: the bundled ones, then those only the shared corpus has (each file
    /// once: a bundled mail is a byte-identical copy of the shared one of the same name).
    /// </summary>
    public static IEnumerable<string> AllCorpusFiles()
    {
        var bundled = Corpus.Files.ToList();
        if (SharedCorpus is not { } shared)
        {
            return bundled;
        }
        var names = bundled.Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        return bundled.Concat(shared.Files.Where(file => !names.Contains(Path.GetFileName(file))));
    }

    private static string FixturesFolder => Path.Combine(RepositoryRoot, "tests", "fixtures");

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ManycoreMail.slnx")))
            {
                return directory.FullName;
            }
        }
        throw new DirectoryNotFoundException("No folder holding ManycoreMail.slnx above " + AppContext.BaseDirectory);
    }

    // A git worktree may sit a level deeper than the main checkout, so look beside every folder above the root.
    private static LabelledCorpus? FindSharedCorpus()
    {
        for (var directory = Directory.GetParent(RepositoryRoot); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "shared", "corpus", "public");
            if (File.Exists(Path.Combine(candidate, LabelledCorpus.LabelsFile)))
            {
                return LabelledCorpus.Load(candidate);
            }
        }
        return null;
    }
}
