using System.Net;

namespace ManycoreMail.Roles.Tracker;

/// <summary>
/// The two pages of the unsubscribe URL: the confirmation a GET shows (a form that POSTs back to the same URL) and
/// the answer to the POST. Self-contained (no script, image, font or style sheet from anywhere), so they render
/// under <see cref="ContentSecurityPolicy"/> and tell no third party who unsubscribed.
/// </summary>
internal static class UnsubscribePages
{
    /// <summary>Nothing may load; inline style only; the form may only post back here.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    /// <summary>The form field and value RFC 8058 prescribes; the confirm form posts the same, so one check serves both.</summary>
    public const string OneClickField = "List-Unsubscribe";
    public const string OneClickValue = "One-Click";

    public static string Confirm(string recipient) => Page("Unsubscribe",
        $"""
        <h1>Unsubscribe</h1>
        <p>Stop sending these emails to <strong>{WebUtility.HtmlEncode(recipient)}</strong>?</p>
        <form method="post">
        <input type="hidden" name="{OneClickField}" value="{OneClickValue}">
        <button type="submit">Unsubscribe</button>
        </form>
        """);

    public static string Done(string recipient) => Page("Unsubscribed",
        $"""
        <h1>You are unsubscribed</h1>
        <p><strong>{WebUtility.HtmlEncode(recipient)}</strong> will not get these emails any more.</p>
        """);

    private static string Page(string title, string body) =>
        $"""
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="robots" content="noindex, nofollow">
        <title>{title}</title>
        <style>body{"{"}font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em{"}"}button{"{"}font-size:1em;padding:.5em 1.5em{"}"}</style>
        </head>
        <body>
        {body}
        </body>
        </html>
        """;
}
