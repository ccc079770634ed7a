using System.Text;

namespace ManycoreMail.Mime;

/// <summary>One leaf of a MIME tree as <see cref="MimeWalker"/> finds it: its header block (parsed once), its
/// content type (null when absent or unparsable) and its body as a range of the walked message, not a copy.</summary>
/// <param name="Depth">0 for the message itself, one more per enclosing multipart or message/rfc822.</param>
/// <param name="InDigest">True when the nearest enclosing multipart is multipart/digest, whose parts default to
/// message/rfc822 (RFC 2046 §5.1.5) rather than text/plain.</param>
public readonly record struct MimeWalkPart(MessageHeaders Headers, ContentType? ContentType, int BodyStart, int BodyEnd, int Depth, bool InDigest)
{
    /// <summary>The Content-Transfer-Encoding, trimmed and lower case; "7bit" when absent (RFC 2045 §6.1).</summary>
    public string TransferEncoding => (Headers.First("Content-Transfer-Encoding") ?? "7bit").Trim().ToLowerInvariant();

    /// <summary>The declared charset parameter, or null.</summary>
    public string? Charset => ContentType?.GetParameter("charset");

    /// <summary>Content-Disposition: attachment (not rendered as the message body).</summary>
    public bool IsAttachment =>
        Headers.First("Content-Disposition")?.TrimStart().StartsWith("attachment", StringComparison.OrdinalIgnoreCase) == true;
}

/// <summary>
/// The one walk over a message's MIME tree (RFC 2045/2046) on bytes: multipart bodies split at their delimiter
/// lines, nested multiparts and (when asked) identity-encoded message/rfc822 entities descended to a bounded depth,
/// each part's header block parsed once with <see cref="MessageHeaders"/>. Leaves are reported with body ranges of
/// the walked message, so nothing is copied; callers decode what they actually read.
/// </summary>
/// <remarks>A hostile message cannot make the walk expensive: nesting stops at <see cref="MaxDepth"/>, and at most
/// <see cref="MaxParts"/> parts are reported in total. A part whose header block does not parse is skipped; a
/// multipart without a usable boundary, or past the depth bound, is reported as a leaf so the caller sees it.</remarks>
public static class MimeWalker
{
    /// <summary>Nesting deeper than this is not descended.</summary>
    public const int MaxDepth = 32;

    /// <summary>At most this many parts are split out of one message, across all levels.</summary>
    public const int MaxParts = 4096;

    /// <summary>RFC 2046 §5.1.1 allows 70 characters; longer boundaries are tolerated up to this.</summary>
    private const int MaxBoundaryLength = 200;

    /// <summary>Calls <paramref name="visit"/> for every leaf of the tree in document order.</summary>
    /// <param name="message">The whole message; <paramref name="headers"/> is its parsed header block.</param>
    /// <param name="descendMessages">Also walk into message/rfc822 (and message/global) entities whose
    /// transfer encoding is the identity (7bit, 8bit, binary); encoded ones stay leaves.</param>
    public static void Walk(ReadOnlyMemory<byte> message, MessageHeaders headers, Action<MimeWalkPart> visit, bool descendMessages = false)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(visit);
        var budget = MaxParts;
        var bodyStart = Math.Min(headers.BodyOffset, message.Length);
        VisitEntity(message, headers, bodyStart, message.Length, 0, false, descendMessages, visit, ref budget);
    }

    private static void VisitEntity(ReadOnlyMemory<byte> message, MessageHeaders headers, int bodyStart, int end, int depth,
        bool inDigest, bool descendMessages, Action<MimeWalkPart> visit, ref int budget)
    {
        var contentType = ContentType.Parse(headers.First("Content-Type"));
        var part = new MimeWalkPart(headers, contentType, bodyStart, end, depth, inDigest);
        if (depth < MaxDepth && contentType is { IsMultipart: true } && UsableBoundary(contentType.GetParameter("boundary")) is { } boundary)
        {
            var parts = new List<Range>();
            Split(message.Span[bodyStart..end], Encoding.ASCII.GetBytes("--" + boundary), parts, budget);
            budget -= parts.Count;
            var digest = contentType.Is("multipart", "digest");
            foreach (var range in parts)
            {
                var (offset, length) = range.GetOffsetAndLength(end - bodyStart);
                var partStart = bodyStart + offset;
                var partEnd = partStart + length;
                if (MessageHeaders.TryParse(message[partStart..partEnd], out var partHeaders, out _))
                {
                    var partBody = Math.Min(partStart + partHeaders.BodyOffset, partEnd);
                    VisitEntity(message, partHeaders, partBody, partEnd, depth + 1, digest, descendMessages, visit, ref budget);
                }
            }
            return;
        }
        if (descendMessages && depth < MaxDepth && budget > 0 && IsEnclosedMessage(part)
            && part.TransferEncoding is "7bit" or "8bit" or "binary" or ""
            && MessageHeaders.TryParse(message[bodyStart..end], out var enclosed, out _))
        {
            budget--;
            VisitEntity(message, enclosed, Math.Min(bodyStart + enclosed.BodyOffset, end), end, depth + 1, false, descendMessages, visit, ref budget);
            return;
        }
        visit(part);
    }

    private static bool IsEnclosedMessage(MimeWalkPart part) =>
        part.ContentType is { } type
            ? type.MediaType == "message" && type.MediaSubtype is "rfc822" or "global"
            : part.InDigest;

    private static string? UsableBoundary(string? boundary) =>
        string.IsNullOrEmpty(boundary) || boundary.Length > MaxBoundaryLength || !Ascii.IsValid(boundary) ? null : boundary;

    /// <summary>
    /// The encapsulated parts of a multipart body (RFC 2046 §5.1.1), as ranges of <paramref name="body"/>: each part
    /// runs from after its delimiter line to before the line break that precedes the next delimiter line (that break
    /// belongs to the delimiter). Preamble and epilogue are skipped. A delimiter counts only at the start of a line and
    /// followed by transport padding (spaces, tabs) and the line end, so "--boundaryX" in a body is text. CRLF and bare LF
    /// both end lines. Without a close delimiter (a truncated message) the last part runs to the end.
    /// </summary>
    /// <param name="delimiter">"--" followed by the boundary.</param>
    /// <param name="maxParts">Splitting stops after this many parts.</param>
    public static void Split(ReadOnlySpan<byte> body, ReadOnlySpan<byte> delimiter, List<Range> parts, int maxParts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        var end = body.Length;
        var partStart = -1;
        var search = 0;
        // Every round moves search forward.
        while (search < end && parts.Count < maxParts)
        {
            var index = body[search..].IndexOf(delimiter);
            if (index < 0)
            {
                break;
            }
            var position = search + index;
            search = position + 1;
            if (position != 0 && body[position - 1] != (byte)'\n')
            {
                continue;
            }
            if (DelimiterLineEnd(body, position + delimiter.Length, out var isClose) is not { } next)
            {
                continue; // "--boundaryX": a longer line, not our delimiter
            }
            if (partStart >= 0)
            {
                parts.Add(partStart..Math.Max(partStart, WithoutLineBreak(body, position)));
            }
            if (isClose)
            {
                return;
            }
            partStart = next;
            search = next;
        }
        if (partStart >= 0 && partStart < end && parts.Count < maxParts)
        {
            parts.Add(partStart..end);
        }
    }

    /// <summary>Where the line after a delimiter starts, or null when the line holds more than padding.</summary>
    private static int? DelimiterLineEnd(ReadOnlySpan<byte> body, int after, out bool isClose)
    {
        var end = body.Length;
        isClose = after + 1 < end && body[after] == (byte)'-' && body[after + 1] == (byte)'-';
        var k = isClose ? after + 2 : after;
        while (k < end && body[k] is (byte)' ' or (byte)'\t')
        {
            k++; // transport padding
        }
        if (k == end)
        {
            return end;
        }
        if (body[k] == (byte)'\n')
        {
            return k + 1;
        }
        if (body[k] == (byte)'\r' && (k + 1 == end || body[k + 1] == (byte)'\n'))
        {
            return Math.Min(k + 2, end);
        }
        return null;
    }

    private static int WithoutLineBreak(ReadOnlySpan<byte> body, int position)
    {
        if (position > 0 && body[position - 1] == (byte)'\n')
        {
            position--;
            if (position > 0 && body[position - 1] == (byte)'\r')
            {
                position--;
            }
        }
        return position;
    }
}
