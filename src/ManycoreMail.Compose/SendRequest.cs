using ManycoreMail.Mime;

namespace ManycoreMail.Compose;

/// <summary>One recipient of a send request: the address, its message uuid if the caller chose one, and the values
/// its template placeholders get on top of the request's.</summary>
public sealed record SendRecipient(MailboxAddress Address, string? Uuid, IReadOnlyDictionary<string, string> Substitutions);

/// <summary>An attachment, already decoded from base64. Inline attachments carry a Content-ID the HTML refers to.</summary>
public sealed record SendAttachment(string FileName, string ContentType, ReadOnlyMemory<byte> Content, bool Inline, string? ContentId);

/// <summary>A validated <c>POST /v1/messages</c> body (issue 13). Every field has passed <see cref="SendRequestParser"/>.</summary>
public sealed record SendRequest
{
    public required MailboxAddress From { get; init; }
    public MailboxAddress? ReplyTo { get; init; }
    public string? Subject { get; init; }
    public string? Text { get; init; }
    public string? Html { get; init; }
    public string? Template { get; init; }
    public required IReadOnlyList<SendRecipient> Recipients { get; init; }
    public IReadOnlyDictionary<string, string> Substitutions { get; init; } = new Dictionary<string, string>();
    /// <summary>Custom headers in the order given.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];
    public IReadOnlyList<SendAttachment> Attachments { get; init; } = [];
    public string? Campaign { get; init; }
    public string? Tenant { get; init; }
    /// <summary>0 (primary queue) or 1, as the HTTP raw API's X-Priority.</summary>
    public int? Priority { get; init; }
    public DateTimeOffset? SendAt { get; init; }
    public bool Strict { get; init; }
}

/// <summary>One problem in a send request: the JSON path of the field (<c>recipients[2].email</c>) and what is wrong,
/// so the API can answer a problem+json naming it.</summary>
public sealed record SendRequestError(string Field, string Message);

/// <summary>Bounds a send request must keep.</summary>
public sealed record SendRequestLimits
{
    public int MaxRecipients { get; init; } = 1000;
    /// <summary>The request body as received.</summary>
    public int MaxRequestBytes { get; init; } = 40 * 1024 * 1024;
    /// <summary>Text, HTML and decoded attachments together: what every recipient's message carries.</summary>
    public long MaxContentBytes { get; init; } = 25 * 1024 * 1024;
}

/// <summary>The outcome of parsing: a request, or every problem found.</summary>
public sealed record SendRequestParseResult(SendRequest? Request, IReadOnlyList<SendRequestError> Errors)
{
    public bool IsValid => Request is not null;
}
