namespace ManycoreMail.Mime;

/// <summary>Inserts HTML (a tracking pixel) before the last &lt;/body&gt; of every text/html part, at any
/// multipart depth, decoding and re-encoding the part's Content-Transfer-Encoding (base64, quoted-printable,
/// 7bit, 8bit) and the charset it declares.</summary>
public static class HtmlBeacon
{
    /// <summary>Returns the new body (CRLF), or null when no text/html part with a &lt;/body&gt; was found.</summary>
    public static byte[]? Inject(ReadOnlyMemory<byte> message, MessageHeaders headers, string html) => throw new NotImplementedException();
}
