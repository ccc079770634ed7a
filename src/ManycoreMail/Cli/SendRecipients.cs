using System.Globalization;
using nietras.SeparatedValues;

namespace ManycoreMail.Cli;

/// <summary>One recipient as <c>mailer send</c> read it; <paramref name="Line"/> is its line in the CSV file (or its
/// position among the --to addresses), for messages that point back at it.</summary>
internal sealed record SendRecipientRow(string Email, string? Name, string? Uuid, IReadOnlyList<KeyValuePair<string, string>> Substitutions, long Line);

/// <summary>Where the recipients come from: the --to addresses, or a CSV file whose header names the columns
/// (<c>email</c> required, <c>name</c> and <c>uuid</c> optional; every column, these too, a substitution of that name).</summary>
internal abstract class SendRecipients
{
    /// <summary>A short name for messages: "list.csv" or "--to".</summary>
    public abstract string Source { get; }

    /// <summary>Where a recipient came from, for messages: "list.csv line 12" or "--to #3".</summary>
    public abstract string Locate(SendRecipientRow row);

    /// <summary>The problems that make the list unusable, each "line N: field: problem", and the number of recipients;
    /// checked in full before anything is sent, so a bad row at the end never leaves half a list sent. (Local files
    /// are read synchronously: a command line has no other work to give the thread meanwhile.)</summary>
    public abstract (IReadOnlyList<string> Problems, long Count) Check(CancellationToken cancellationToken);

    /// <summary>The recipients in order, in batches of at most <paramref name="batchSize"/>, with the fraction of the
    /// input read after each batch (for a progress bar).</summary>
    public abstract IEnumerable<(IReadOnlyList<SendRecipientRow> Batch, double Done)> Batches(int batchSize, CancellationToken cancellationToken);

    public static SendRecipients FromAddresses(IReadOnlyList<string> addresses) => new AddressList(addresses);

    public static SendRecipients FromCsv(string path) => new CsvList(path);

    private sealed class AddressList(IReadOnlyList<string> addresses) : SendRecipients
    {
        public override string Source => "--to";

        public override string Locate(SendRecipientRow row) => $"--to #{row.Line}";

        public override (IReadOnlyList<string> Problems, long Count) Check(CancellationToken cancellationToken)
        {
            var problems = addresses.Select((address, i) => (address, i))
                .Where(entry => string.IsNullOrWhiteSpace(entry.address))
                .Select(entry => $"--to #{entry.i + 1}: email: is empty")
                .ToList();
            return (problems, addresses.Count);
        }

        public override IEnumerable<(IReadOnlyList<SendRecipientRow> Batch, double Done)> Batches(int batchSize, CancellationToken cancellationToken)
        {
            var rows = addresses.Select((address, i) => new SendRecipientRow(address.Trim(), null, null, [], i + 1)).ToList();
            for (var start = 0; start < rows.Count; start += batchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var batch = rows.GetRange(start, Math.Min(batchSize, rows.Count - start));
                yield return (batch, (double)(start + batch.Count) / rows.Count);
            }
        }
    }

    private sealed class CsvList(string path) : SendRecipients
    {
        private const string EmailColumn = "email";
        private const string NameColumn = "name";
        private const string UuidColumn = "uuid";

        /// <summary>Enough to fix a file in one go without flooding the terminal.</summary>
        private const int MaxProblemsReported = 20;

        public override string Source => Path.GetFileName(path);

        public override string Locate(SendRecipientRow row) => $"{Source} line {row.Line}";

        public override (IReadOnlyList<string> Problems, long Count) Check(CancellationToken cancellationToken)
        {
            var problems = new List<string>();
            long count = 0;
            if (!File.Exists(path))
            {
                return ([$"{path}: does not exist"], 0);
            }

            using var file = OpenFile(path);
            using var reader = Reader(file);
            var columns = Columns.Of(reader.Header);
            if (columns.Email < 0)
            {
                return ([$"{Source}: line 1: header: has no email column"], 0);
            }

            foreach (var row in Rows(reader, columns, problems, cancellationToken))
            {
                _ = row;
                count++;
            }

            if (problems.Count > MaxProblemsReported)
            {
                var more = problems.Count - MaxProblemsReported;
                problems.RemoveRange(MaxProblemsReported, more);
                problems.Add($"... and {more} more");
            }

            return (problems, count);
        }

        public override IEnumerable<(IReadOnlyList<SendRecipientRow> Batch, double Done)> Batches(int batchSize, CancellationToken cancellationToken)
        {
            using var file = OpenFile(path);
            using var reader = Reader(file);
            var columns = Columns.Of(reader.Header);
            var batch = new List<SendRecipientRow>(batchSize);
            foreach (var row in Rows(reader, columns, [], cancellationToken))
            {
                batch.Add(row);
                if (batch.Count == batchSize)
                {
                    yield return (batch, Fraction(file));
                    batch = new List<SendRecipientRow>(batchSize);
                }
            }

            if (batch.Count > 0)
            {
                yield return (batch, 1);
            }
        }

        private static double Fraction(FileStream file) => file.Length == 0 ? 1 : Math.Min(1, (double)file.Position / file.Length);

        private static FileStream OpenFile(string path) =>
            new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);

        private static SepReader Reader(FileStream file) =>
            Sep.Reader(o => o with { HasHeader = true, Unescape = true, DisableColCountCheck = true }).From(file);

        /// <summary>The good rows; each bad one adds "file: line N: field: problem" to <paramref name="problems"/>.</summary>
        private IEnumerable<SendRecipientRow> Rows(SepReader reader, Columns columns, List<string> problems, CancellationToken cancellationToken)
        {
            var headerCount = reader.Header.ColNames.Count;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                SendRecipientRow? parsed = null;
                try
                {
                    if (!reader.MoveNext())
                    {
                        yield break;
                    }

                    var row = reader.Current;
                    var line = row.LineNumberFrom;
                    if (row.ColCount == 1 && row[0].Span.IsWhiteSpace())
                    {
                        continue; // a blank line, often the last one
                    }

                    if (row.ColCount != headerCount)
                    {
                        problems.Add(string.Create(CultureInfo.InvariantCulture, $"{Source}: line {line}: {row.ColCount} fields where the header has {headerCount}"));
                        continue;
                    }

                    var email = row[columns.Email].ToString().Trim();
                    if (email.Length == 0)
                    {
                        problems.Add(string.Create(CultureInfo.InvariantCulture, $"{Source}: line {line}: email: is empty"));
                        continue;
                    }

                    var substitutions = new List<KeyValuePair<string, string>>(columns.Substitutions.Count);
                    foreach (var (name, index) in columns.Substitutions)
                    {
                        substitutions.Add(KeyValuePair.Create(name, row[index].ToString()));
                    }

                    parsed = new SendRecipientRow(email, Optional(row, columns.Name), Optional(row, columns.Uuid), substitutions, line);
                }
                catch (InvalidDataException e)
                {
                    // Sep refuses a quote left open at the end of the file; nothing after it can be read.
                    problems.Add($"{Source}: {e.Message}");
                    yield break;
                }

                yield return parsed;
            }
        }

        private static string? Optional(SepReader.Row row, int column) =>
            column >= 0 && row[column].ToString().Trim() is { Length: > 0 } value ? value : null;

        /// <summary>Where each column is: -1 for an absent optional one.</summary>
        private sealed record Columns(int Email, int Name, int Uuid, IReadOnlyList<(string Name, int Index)> Substitutions)
        {
            public static Columns Of(SepReaderHeader header)
            {
                int email = -1, name = -1, uuid = -1;
                var substitutions = new List<(string, int)>();
                for (var i = 0; i < header.ColNames.Count; i++)
                {
                    var column = header.ColNames[i].Trim();
                    switch (column.ToLowerInvariant())
                    {
                        case EmailColumn: email = i; break;
                        case NameColumn: name = i; break;
                        case UuidColumn: uuid = i; break;
                    }
                    // Every column is also a substitution, so that a message can say {{name}} or {{email}} too.
                    substitutions.Add((column, i));
                }

                return new Columns(email, name, uuid, substitutions);
            }
        }
    }
}
