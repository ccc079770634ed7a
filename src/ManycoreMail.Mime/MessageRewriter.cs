namespace ManycoreMail.Mime;

/// <summary>
/// Builds a new message from an original: remove fields, append new ones (folded at 78 columns), optionally
/// replace the body. The output uses CRLF line ends throughout (what goes on the wire and what is signed).
/// Untouched fields keep their bytes (only line ends normalised).
/// </summary>
public sealed class MessageRewriter(ReadOnlyMemory<byte> original, MessageHeaders headers)
{
    /// <summary>Remove every field with this name (case-insensitive).</summary>
    public MessageRewriter Remove(string name) => throw new NotImplementedException();

    /// <summary>Append a field at the end of the header block; long values are folded at whitespace.</summary>
    public MessageRewriter Append(string name, string value) => throw new NotImplementedException();

    /// <summary>Replace the body (bytes after the empty line) with new bytes (CRLF).</summary>
    public MessageRewriter ReplaceBody(ReadOnlyMemory<byte> body) => throw new NotImplementedException();

    public byte[] ToArray() => throw new NotImplementedException();
}
