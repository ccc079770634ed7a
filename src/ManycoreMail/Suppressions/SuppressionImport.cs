using System.Globalization;
using ManycoreMail.Suppression;
using nietras.SeparatedValues;

namespace ManycoreMail.Suppressions;

/// <summary>How far an import has come: rows read, entries stored, bad rows, and bytes of the file read.</summary>
internal readonly record struct ImportProgress(long Rows, long Imported, long Bad, long BytesRead, long Bytes);

/// <summary>
/// <c>mailer suppressions import FILE.csv</c>: a header row names the columns (email, and any of scope, value,
/// reason, expires, in any order and case); fields may be quoted (RFC 4180). Rows are stored in batches, each one
/// transaction, so a row is either stored whole or not at all; a bad row is reported with its line number and skipped.
/// </summary>
internal sealed class SuppressionImport(ISuppressionStore store, TimeProvider time, int batchSize = SuppressionImport.DefaultBatchSize)
{
    /// <summary>Large enough that the commits' syncs do not count, small enough that a lookup beside it waits little.</summary>
    public const int DefaultBatchSize = 5_000;

    private static readonly string[] Columns = ["email", "scope", "value", "reason", "expires"];

    /// <summary>Imports the file; <paramref name="badRow"/> gets "line N: field: problem" for each row skipped.</summary>
    /// <exception cref="SuppressionFieldException">The header has no email column, or a column it does not know
    /// (field "header").</exception>
    public async Task<ImportProgress> ImportAsync(string path, Func<string, Task> badRow, Action<ImportProgress> progress, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        using var reader = Sep.Reader(o => o with { HasHeader = true, Unescape = true, DisableColCountCheck = true }).From(file);
        var columns = ColumnsOf(reader.Header);
        var now = time.GetUtcNow();
        var state = new ImportProgress(0, 0, 0, 0, file.Length);
        var batch = new List<SuppressionEntry>(batchSize);
        var problems = new List<string>();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var more = ReadBatch(reader, columns, now, batch, problems, ref state);
            foreach (var problem in problems)
            {
                await badRow(problem).ConfigureAwait(false);
            }

            if (batch.Count > 0)
            {
                await store.AddAsync(batch, cancellationToken).ConfigureAwait(false);
                state = state with { Imported = state.Imported + batch.Count };
            }

            state = state with { BytesRead = more ? Math.Min(file.Position, file.Length) : file.Length };
            progress(state);
            batch.Clear();
            problems.Clear();
            if (!more)
            {
                return state;
            }
        }
    }

    /// <summary>Reads rows until the batch is full (true) or the file ends (false).</summary>
    private bool ReadBatch(SepReader reader, int[] columns, DateTimeOffset now, List<SuppressionEntry> batch, List<string> problems, ref ImportProgress state)
    {
        while (batch.Count < batchSize)
        {
            try
            {
                if (!reader.MoveNext())
                {
                    return false;
                }
            }
            catch (InvalidDataException e)
            {
                // Sep refuses a quote left open at the end of the file; nothing after it can be read.
                problems.Add($"line {state.Rows + 2}: {e.Message}");
                state = state with { Rows = state.Rows + 1, Bad = state.Bad + 1 };
                return false;
            }

            var row = reader.Current;
            var line = row.LineNumberFrom;
            state = state with { Rows = state.Rows + 1 };
            if (row.ColCount != reader.Header.ColNames.Count)
            {
                if (row.ColCount == 1 && row[0].Span.IsWhiteSpace())
                {
                    state = state with { Rows = state.Rows - 1 };
                    continue;
                }

                problems.Add(string.Create(CultureInfo.InvariantCulture, $"line {line}: {row.ColCount} fields where the header has {reader.Header.ColNames.Count}"));
                state = state with { Bad = state.Bad + 1 };
                continue;
            }

            try
            {
                batch.Add(SuppressionInput.Entry(Field(row, columns[0]), Field(row, columns[1]), Field(row, columns[2]), Field(row, columns[3]), Field(row, columns[4]), now));
            }
            catch (SuppressionFieldException e)
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"line {line}: {e.Field}: {e.Message}"));
                state = state with { Bad = state.Bad + 1 };
            }
        }

        return true;
    }

    private static string? Field(SepReader.Row row, int column) => column < 0 ? null : row[column].ToString();

    /// <summary>Each known column's index in the file (-1 when absent), in the order of <see cref="Columns"/>.</summary>
    private static int[] ColumnsOf(SepReaderHeader header)
    {
        var indexes = new int[Columns.Length];
        Array.Fill(indexes, -1);
        for (var i = 0; i < header.ColNames.Count; i++)
        {
            var name = header.ColNames[i].Trim().ToLowerInvariant();
            var known = Array.IndexOf(Columns, name);
            if (known < 0)
            {
                throw new SuppressionFieldException("header", $"unknown column '{header.ColNames[i]}'; the columns are {string.Join(", ", Columns)}");
            }

            if (indexes[known] >= 0)
            {
                throw new SuppressionFieldException("header", $"column '{name}' appears twice");
            }

            indexes[known] = i;
        }

        if (indexes[0] < 0)
        {
            throw new SuppressionFieldException("header", "the first line must name the columns, one of them 'email' (email,scope,value,reason,expires)");
        }

        return indexes;
    }
}
