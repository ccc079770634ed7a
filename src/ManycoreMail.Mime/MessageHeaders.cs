namespace ManycoreMail.Mime;

/// <summary>One header field as it stands in the message.</summary>
public sealed class HeaderField
{
    public required string Name { get; init; }
    /// <summary>The whole field as received: name, colon, value with its folding, and its line end.</summary>
    public required ReadOnlyMemory<byte> Raw { get; init; }
    /// <summary>The value unfolded (CRLF/LF before WSP removed, runs of WSP kept as they are), trimmed, decoded as UTF-8.</summary>
    public required string Value { get; init; }
}

/// <summary>The header block of an RFC 5322 message, parsed once from its bytes (LF or CRLF line ends).</summary>
public sealed class MessageHeaders
{
    private MessageHeaders() { }

    public IReadOnlyList<HeaderField> Fields => throw new NotImplementedException();

    /// <summary>Offset of the first body byte (after the empty line), or the message length when there is no body.</summary>
    public int BodyOffset => throw new NotImplementedException();

    /// <summary>Parse the header block. Fails (with a precise error) on a line that is neither a field,
    /// a continuation nor the empty separator, and on a NUL byte in the header.</summary>
    public static bool TryParse(ReadOnlyMemory<byte> message, out MessageHeaders headers, out string? error) =>
        throw new NotImplementedException();

    /// <summary>First field with this name (case-insensitive), or null.</summary>
    public string? First(string name) => throw new NotImplementedException();
    /// <summary>Last field with this name (case-insensitive), or null.</summary>
    public string? Last(string name) => throw new NotImplementedException();
    public IEnumerable<HeaderField> All(string name) => throw new NotImplementedException();
}
