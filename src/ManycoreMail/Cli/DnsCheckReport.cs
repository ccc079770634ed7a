using System.Text;

namespace ManycoreMail.Cli;

internal enum DnsCheckStatus
{
    Ok,
    /// <summary>Could not be verified (something the check needs is not configured).</summary>
    Warn,
    Fail,
}

/// <summary>One line of <c>mailer dns check</c>: what was checked, for which name, and what is wrong and how to fix it.</summary>
internal sealed record DnsCheckRow(string Check, string Domain, DnsCheckStatus Status, string Detail)
{
    public static DnsCheckRow Ok(string check, string domain, string detail) => new(check, domain, DnsCheckStatus.Ok, detail);

    public static DnsCheckRow Warn(string check, string domain, string detail) => new(check, domain, DnsCheckStatus.Warn, detail);

    public static DnsCheckRow Fail(string check, string domain, string detail) => new(check, domain, DnsCheckStatus.Fail, detail);
}

/// <summary>The rows as an aligned table; the detail column last, since it holds whole records to publish.</summary>
internal static class DnsCheckTable
{
    public static string Format(IReadOnlyList<DnsCheckRow> rows)
    {
        var header = new[] { "CHECK", "DOMAIN", "STATUS", "DETAIL" };
        var cells = rows.Select(r => new[] { r.Check, r.Domain, Status(r.Status), r.Detail }).Prepend(header).ToArray();
        var widths = Enumerable.Range(0, 3).Select(column => cells.Max(row => row[column].Length)).ToArray();
        var table = new StringBuilder();
        foreach (var row in cells)
        {
            for (var column = 0; column < 3; column++)
            {
                table.Append(row[column].PadRight(widths[column])).Append("  ");
            }
            table.Append(row[3]).Append('\n');
        }
        return table.ToString();
    }

    public static string Status(DnsCheckStatus status) => status switch
    {
        DnsCheckStatus.Ok => "OK",
        DnsCheckStatus.Warn => "WARN",
        _ => "FAIL",
    };
}
