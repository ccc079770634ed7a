using System.Globalization;
using System.Text.RegularExpressions;
using Spectre.Console;

namespace ManycoreMail.Cli;

/// <summary>
/// One <c>mailer send</c>: checks the whole recipient list, then posts it batch by batch, printing each accepted
/// message's uuid and recipient on stdout and the progress on stderr (a bar on a terminal, else a line per batch).
/// Stops at the first refused batch: re-running the same command then sends only what was not accepted before.
/// Exit codes: 0 all accepted, 1 a batch refused or the API unreachable, 2 a bad recipient list.
/// </summary>
internal sealed partial class SendJob(SendMessageFields message, SendRecipients recipients, SendApiClient api, int batchSize)
{
    /// <summary>Prints only the closing summary on stdout instead of one line per message.</summary>
    public bool SummaryOnly { get; init; }

    public async Task<int> RunAsync(TextWriter output, TextWriter error, bool errorIsTerminal, CancellationToken cancellationToken)
    {
        var (problems, count) = recipients.Check(cancellationToken);
        if (problems.Count > 0 || count == 0)
        {
            foreach (var problem in problems.DefaultIfEmpty($"{recipients.Source}: no recipients"))
            {
                await error.WriteLineAsync(problem).ConfigureAwait(false);
            }

            await error.WriteLineAsync("Nothing was sent.").ConfigureAwait(false);
            return 2;
        }

        var batches = (int)((count + batchSize - 1) / batchSize);
        Outcome outcome;
        if (errorIsTerminal && batches > 1)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(error) });
            outcome = await console.Progress().AutoClear(false).StartAsync(async context =>
            {
                var bar = context.AddTask($"Sending to {count} recipients", maxValue: 1);
                return await SendAllAsync(output, batches, (_, done) => bar.Value = done, cancellationToken).ConfigureAwait(false);
            }).ConfigureAwait(false);
        }
        else
        {
            outcome = await SendAllAsync(output, batches, (line, _) => error.WriteLine(line), cancellationToken).ConfigureAwait(false);
        }

        if (outcome.Refusal is { } refusal)
        {
            await error.WriteLineAsync(refusal).ConfigureAwait(false);
            await error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{outcome.Accepted} of {count} messages were accepted. Running the same command again sends only the rest.")).ConfigureAwait(false);
            return 1;
        }

        var summary = string.Create(CultureInfo.InvariantCulture, $"Accepted {outcome.Accepted} messages in {batches} batches.");
        await (SummaryOnly ? output : error).WriteLineAsync(summary).ConfigureAwait(false);
        return 0;
    }

    private async Task<Outcome> SendAllAsync(TextWriter output, int batches, Action<string, double> progress, CancellationToken cancellationToken)
    {
        var index = 0;
        long accepted = 0;
        foreach (var (batch, done) in recipients.Batches(batchSize, cancellationToken))
        {
            var body = SendRequestJson.Write(message, batch);
            var answer = await api.PostAsync(body, SendRequestJson.IdempotencyKey(index, body), cancellationToken).ConfigureAwait(false);
            if (!answer.IsAccepted)
            {
                return new(accepted, $"Batch {index + 1} of {batches} was refused: {PointAtLines(answer.Refusal!, batch)}");
            }

            if (!SummaryOnly)
            {
                foreach (var sent in answer.Accepted!)
                {
                    await output.WriteLineAsync($"{sent.Uuid}\t{sent.Email}").ConfigureAwait(false);
                }
            }

            accepted += answer.Accepted!.Count;
            index++;
            progress(string.Create(CultureInfo.InvariantCulture, $"batch {index} of {batches}: {answer.Accepted.Count} accepted ({accepted} so far)"), done);
        }

        return new(accepted, null);
    }

    /// <summary>"recipients[17].email" in the API's answer is about the batch; say which input line that was.</summary>
    private string PointAtLines(string refusal, IReadOnlyList<SendRecipientRow> batch) =>
        RecipientIndex().Replace(refusal, match =>
            int.TryParse(match.Groups[1].ValueSpan, CultureInfo.InvariantCulture, out var i) && i < batch.Count
                ? string.Create(CultureInfo.InvariantCulture, $"{match.Value} ({recipients.Locate(batch[i])})")
                : match.Value);

    [GeneratedRegex(@"recipients\[(\d+)\](\.[a-z_]+)?")]
    private static partial Regex RecipientIndex();

    private readonly record struct Outcome(long Accepted, string? Refusal);
}
