using System.Text.RegularExpressions;

namespace ManycoreMail.Classification;

/// <summary>
/// Finds which SMTP command a bounce says the remote server refused. The same "user unknown" means a bad address
/// at RCPT but a content filter at DATA, so the reason depends on it. MTAs state it in a few fixed forms:
/// Postfix "(in reply to RCPT TO command)", Exim "after RCPT TO:", "after end of data", Sendmail's transcript
/// "&gt;&gt;&gt; DATA" / "&lt;&lt;&lt; 550 ...", DragonFly "did not like our RCPT TO", qmail-style "after DATA".
/// </summary>
internal static partial class SmtpCommands
{
    [GeneratedRegex(@"(?:in\s+reply\s+to|after|did\s+not\s+like\s+our|while\s+sending|response\s+to)\s+(?:the\s+)?(?:end\s+of\s+|final\s+)?(rcpt\s+to|rcpt|mail\s+from|data|dot|message\s+data|ehlo|helo|connect|initial\s+connection|greeting|banner)\b",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex Stated();

    [GeneratedRegex(@"^\s*>>>\s*(RCPT|MAIL|DATA|EHLO|HELO|\.).*\r?\n\s*<<<\s*[45]\d\d", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Multiline, matchTimeoutMilliseconds: 1000)]
    private static partial Regex Transcript();

    /// <summary>"RCPT", "MAIL", "DATA", "CONN" or null when the text does not say.</summary>
    public static string? RefusedAt(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }
        var transcript = Transcript().Match(text);
        if (transcript.Success)
        {
            return Normalise(transcript.Groups[1].Value);
        }
        var stated = Stated().Match(text);
        return stated.Success ? Normalise(stated.Groups[1].Value) : null;
    }

    private static string Normalise(string command)
    {
        var upper = command.ToUpperInvariant();
        return upper.StartsWith("RCPT", StringComparison.Ordinal) ? "RCPT"
            : upper.StartsWith("MAIL", StringComparison.Ordinal) ? "MAIL"
            : upper is "EHLO" or "HELO" or "CONNECT" or "INITIAL CONNECTION" or "GREETING" or "BANNER" || upper.StartsWith("INITIAL", StringComparison.Ordinal) ? "CONN"
            : "DATA";
    }
}
