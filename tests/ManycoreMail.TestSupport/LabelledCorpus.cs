namespace ManycoreMail.TestSupport;

/// <summary>A folder of corpus mails and the labels.tsv that describes them, one row per mail.</summary>
public sealed class LabelledCorpus
{
    public const string LabelsFile = "labels.tsv";

    private LabelledCorpus(string directory, IReadOnlyList<CorpusLabel> labels)
    {
        Directory = directory;
        Labels = labels;
    }

    public string Directory { get; }

    public IReadOnlyList<CorpusLabel> Labels { get; }

    /// <summary>The labelled mails' full paths, in the order of labels.tsv.</summary>
    public IEnumerable<string> Files => Labels.Select(PathOf);

    public string PathOf(CorpusLabel label) => Path.Combine(Directory, label.File);

    public static LabelledCorpus Load(string directory) =>
        new(directory, CorpusLabel.ReadAll(Path.Combine(directory, LabelsFile)));
}

/// <summary>
/// One row of a corpus's labels.tsv. A "-" cell means the source states nothing; multi-recipient mails list
/// their values separated by ';'.
/// </summary>
public sealed record CorpusLabel(
    string File,
    string Kind,
    string Subkind,
    IReadOnlyList<string> Recipients,
    IReadOnlyList<string> DsnStatuses,
    IReadOnlyList<string> SisimaiReasons,
    IReadOnlyList<string> StatusClasses,
    string SourceRepo,
    string SourcePath,
    string SourceCommit,
    string License)
{
    public static IReadOnlyList<CorpusLabel> ReadAll(string path)
    {
        using var lines = System.IO.File.ReadLines(path).GetEnumerator();
        if (!lines.MoveNext())
        {
            throw new InvalidDataException($"{path}: empty, expected a header row");
        }
        var header = lines.Current.Split('\t');
        int Column(string name)
        {
            var index = Array.IndexOf(header, name);
            return index >= 0 ? index : throw new InvalidDataException($"{path}: no column '{name}' in the header row");
        }
        var (file, kind, subkind, recipient, status, reason, statusClass, repo, sourcePath, commit, license) = (
            Column("file"), Column("kind"), Column("subkind"), Column("recipient"), Column("dsn_status"), Column("sisimai_reason"),
            Column("status_class"), Column("source_repo"), Column("source_path"), Column("source_commit"), Column("license"));

        var rows = new List<CorpusLabel>();
        for (var number = 2; lines.MoveNext(); number++)
        {
            if (lines.Current.Length == 0)
            {
                continue;
            }
            var cells = lines.Current.Split('\t');
            if (cells.Length != header.Length)
            {
                throw new InvalidDataException($"{path}: line {number} has {cells.Length} cells, the header {header.Length}");
            }
            string[] Values(int column) => cells[column] == "-" ? [] : cells[column].Split(';');
            rows.Add(new CorpusLabel(cells[file], cells[kind], cells[subkind], Values(recipient), Values(status), Values(reason),
                Values(statusClass), cells[repo], cells[sourcePath], cells[commit], cells[license]));
        }
        return rows;
    }
}
