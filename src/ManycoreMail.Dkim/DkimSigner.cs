using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using ManycoreMail.Mime;

namespace ManycoreMail.Dkim;

/// <summary>RFC 6376 signer: rsa-sha256 and ed25519-sha256 (RFC 8463), relaxed/relaxed, streamed body hash, one
/// signature per key valid at the signing moment. Thread-safe.</summary>
/// <remarks>
/// Per message it allocates the returned fields, one <see cref="IncrementalHash"/> and little else: header
/// positions live on the stack, canonical headers and the fields under construction in pooled buffers, the hashes
/// and the signatures in stack memory. The body is hashed once and the header fields are selected and
/// canonicalised once, whatever the number of keys; only the hash over them and the signature field is per key.
/// Everything that depends only on a key (the folded "v= a= c= d= s=" start of its field, the header names as
/// bytes) is prepared once in the constructor.
/// </remarks>
public sealed class DkimSigner
{
    /// <summary>The headers a careful sender signs (each signed once per occurrence present).</summary>
    public static readonly IReadOnlyList<string> DefaultHeaders =
    [
        "From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "MIME-Version", "Content-Type",
        "Content-Transfer-Encoding", "List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID",
    ];

    /// <summary>Named once more in h= so that nobody can add another one (a second From) later.</summary>
    public static readonly IReadOnlyList<string> DefaultOversign = ["From"];

    /// <summary>Fold the field before this column (RFC 5322 recommends 78; 76 leaves room for the CRLF SP).</summary>
    private const int FoldColumn = 76;
    private const int MaxStackFields = 128;

    private readonly KeyState[] _keys;
    private readonly string[] _headers;
    private readonly byte[][] _headerBytes;
    private readonly byte[][] _oversignBytes;
    private readonly int _maxSignatureLength;
    private readonly int _fromIndex;

    public DkimSigner(DkimSigningKey key, IReadOnlyList<string> headersToSign, IReadOnlyList<string> oversign)
        : this([key], headersToSign, oversign)
    {
    }

    /// <summary>A signer that adds one signature per key, RSA ones first (a verifier that stops at the first
    /// signature it can check then meets the algorithm every verifier knows).</summary>
    public DkimSigner(IReadOnlyList<DkimSigningKey> keys, IReadOnlyList<string> headersToSign, IReadOnlyList<string> oversign)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(headersToSign);
        ArgumentNullException.ThrowIfNull(oversign);
        if (keys.Count == 0)
        {
            throw new ArgumentException("A DKIM signer needs at least one key.", nameof(keys));
        }
        foreach (var key in keys)
        {
            ArgumentNullException.ThrowIfNull(key);
            ValidateTagValue(key.Domain, "domain");
            ValidateTagValue(key.Selector, "selector");
        }
        var duplicate = keys.GroupBy(k => (Domain: k.Domain.ToLowerInvariant(), Selector: k.Selector.ToLowerInvariant())).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"The DKIM selector '{duplicate.Key.Selector}' of '{duplicate.Key.Domain}' is given twice.", nameof(keys));
        }

        _headers = [.. headersToSign.Distinct(StringComparer.OrdinalIgnoreCase)];
        foreach (var name in _headers.Concat(oversign))
        {
            ValidateHeaderName(name);
        }
        _fromIndex = Array.FindIndex(_headers, h => string.Equals(h, "From", StringComparison.OrdinalIgnoreCase));
        if (_fromIndex < 0)
        {
            throw new ArgumentException("RFC 6376 §5.4: the From field must be signed.", nameof(headersToSign));
        }
        _headerBytes = [.. _headers.Select(Encoding.ASCII.GetBytes)];
        _oversignBytes = [.. oversign.Select(Encoding.ASCII.GetBytes)];
        _keys = [.. keys.OrderBy(k => k.Algorithm == DkimAlgorithm.RsaSha256 ? 0 : 1).Select(KeyState.Create)];
        _maxSignatureLength = _keys.Max(k => k.Key.SignatureLength);
    }

    public IReadOnlyList<string> HeadersToSign => _headers;

    /// <summary>The keys in the order their signatures are written.</summary>
    public IReadOnlyList<DkimSigningKey> Keys => [.. _keys.Select(k => k.Key)];

    /// <summary>Whether any key signs at <paramref name="moment"/> (otherwise <see cref="Sign(ReadOnlySpan{byte}, DateTimeOffset)"/>
    /// returns nothing).</summary>
    public bool HasKeyValidAt(DateTimeOffset moment)
    {
        // A loop, not Any(): this runs for every message and a closure would be its only extra allocation.
        foreach (var key in _keys)
        {
            if (key.Key.IsValidAt(moment))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The complete "DKIM-Signature: ..." fields, one per key valid at <paramref name="timestamp"/>, each
    /// folded and ending in CRLF, to be put at the top of <paramref name="message"/> (CRLF line ends). Empty when no
    /// key is valid then.</summary>
    /// <exception cref="FormatException">The message's header block is malformed.</exception>
    public byte[] Sign(ReadOnlySpan<byte> message, DateTimeOffset timestamp) => Sign(message, default, bodyIsSeparate: false, timestamp);

    /// <summary>The same for a message held as two pieces: <paramref name="header"/> is its header block (up to and
    /// including the empty line) and <paramref name="body"/> what follows it, wherever it lives.</summary>
    /// <exception cref="FormatException">The header block is malformed.</exception>
    public byte[] Sign(ReadOnlySpan<byte> header, ReadOnlySpan<byte> body, DateTimeOffset timestamp) => Sign(header, body, bodyIsSeparate: true, timestamp);

    private byte[] Sign(ReadOnlySpan<byte> message, ReadOnlySpan<byte> separateBody, bool bodyIsSeparate, DateTimeOffset timestamp)
    {
        if (!HasKeyValidAt(timestamp))
        {
            return [];
        }

        FieldPosition[]? rentedFields = null;
        byte[]? canonical = null;
        byte[]? output = null;
        try
        {
            Span<FieldPosition> fields = stackalloc FieldPosition[MaxStackFields];
            var fieldCount = 0;
            var reader = new HeaderBlockReader(message);
            var status = reader.Read(out var range);
            // Every round consumes one field of the message.
            for (; status == HeaderReadStatus.Field; status = reader.Read(out range))
            {
                if (fieldCount == fields.Length)
                {
                    var larger = ArrayPool<FieldPosition>.Shared.Rent(fields.Length * 2);
                    fields.CopyTo(larger);
                    if (rentedFields is not null)
                    {
                        ArrayPool<FieldPosition>.Shared.Return(rentedFields);
                    }
                    rentedFields = larger;
                    fields = larger;
                }
                fields[fieldCount++] = new FieldPosition(range.Start, range.NameLength, range.End);
            }
            if (status == HeaderReadStatus.Error)
            {
                throw new FormatException($"Cannot DKIM-sign the message: {reader.Error}");
            }
            fields = fields[..fieldCount];

            // One body pass for all the signatures: they share the canonicalisation and so the body hash.
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            Span<byte> bodyHash = stackalloc byte[32];
            RelaxedCanonicalization.HashBody(bodyIsSeparate ? separateBody : message[reader.BodyOffset..], hash);
            hash.GetHashAndReset(bodyHash);
            Span<byte> bodyHashTag = stackalloc byte[4 + 44];
            "bh="u8.CopyTo(bodyHashTag);
            Base64.EncodeToUtf8(bodyHash, bodyHashTag[3..], out _, out var bodyHashChars);
            bodyHashTag[3 + bodyHashChars] = (byte)';';
            bodyHashTag = bodyHashTag[..(4 + bodyHashChars)];

            Span<byte> timeTag = stackalloc byte[24];
            "t="u8.CopyTo(timeTag);
            Utf8Formatter.TryFormat(timestamp.ToUnixTimeSeconds(), timeTag[2..], out var digits);
            timeTag[2 + digits] = (byte)';';
            timeTag = timeTag[..(digits + 3)];

            // Select bottom-up (RFC 6376 §5.4.2): for each name, its last instance first. Each field is chosen at
            // most once because the names are distinct.
            Span<int> chosen = fieldCount <= 256 ? stackalloc int[256] : new int[fieldCount];
            Span<int> chosenFields = fieldCount <= 256 ? stackalloc int[256] : new int[fieldCount];
            var chosenCount = 0;
            var hashedLength = 0;
            for (var h = 0; h < _headers.Length; h++)
            {
                for (var f = fields.Length - 1; f >= 0; f--)
                {
                    var position = fields[f];
                    if (Ascii.EqualsIgnoreCase(message.Slice(position.Start, position.NameLength), _headerBytes[h]))
                    {
                        chosen[chosenCount] = h;
                        chosenFields[chosenCount++] = f;
                        hashedLength += position.End - position.Start + 2;
                    }
                }
            }
            chosen = chosen[..chosenCount];
            if (!chosen.Contains(_fromIndex))
            {
                throw new FormatException("Cannot DKIM-sign the message: it has no From field (RFC 6376 §5.4 requires signing it).");
            }
            var outputCapacity = 0;
            var maxFieldCapacity = 0;
            foreach (var key in _keys)
            {
                var capacity = FieldCapacity(key, chosen);
                outputCapacity += capacity;
                maxFieldCapacity = Math.Max(maxFieldCapacity, capacity);
            }
            canonical = ArrayPool<byte>.Shared.Rent(hashedLength + maxFieldCapacity + 2);
            var canonicalLength = 0;
            foreach (var f in chosenFields[..chosenCount])
            {
                canonicalLength += RelaxedCanonicalization.CanonicalizeHeader(
                    message[fields[f].Start..fields[f].End], canonical.AsSpan(canonicalLength));
            }

            output = ArrayPool<byte>.Shared.Rent(outputCapacity);
            var outputLength = 0;
            Span<byte> headerHash = stackalloc byte[32];
            Span<byte> signature = stackalloc byte[_maxSignatureLength];
            Span<byte> signatureBase64 = stackalloc byte[(_maxSignatureLength + 2) / 3 * 4];
            foreach (var key in _keys)
            {
                if (!key.Key.IsValidAt(timestamp))
                {
                    continue;
                }
                var writer = new FoldingWriter(output.AsSpan(outputLength));
                writer.WriteRaw(key.Prefix, key.PrefixColumn);
                writer.WriteToken(timeTag, space: true);
                WriteHeaderList(ref writer, chosen);
                writer.WriteToken(bodyHashTag, space: true);
                writer.WriteToken("b="u8, space: true);

                // The signature covers the field itself with an empty b=, relaxed, without its final CRLF (§3.7).
                var signedFieldLength = RelaxedCanonicalization.CanonicalizeHeader(
                    output.AsSpan(outputLength, writer.Written), canonical.AsSpan(canonicalLength)) - 2;
                hash.AppendData(canonical, 0, canonicalLength + signedFieldLength);
                hash.GetHashAndReset(headerHash);

                var signatureLength = key.Key.SignHash(headerHash, signature);
                Base64.EncodeToUtf8(signature[..signatureLength], signatureBase64, out _, out var signatureChars);
                writer.WriteBreakable(signatureBase64[..signatureChars]);
                writer.WriteRaw("\r\n"u8);
                outputLength += writer.Written;
            }
            return output.AsSpan(0, outputLength).ToArray();
        }
        finally
        {
            if (rentedFields is not null)
            {
                ArrayPool<FieldPosition>.Shared.Return(rentedFields);
            }
            if (canonical is not null)
            {
                ArrayPool<byte>.Shared.Return(canonical);
            }
            if (output is not null)
            {
                ArrayPool<byte>.Shared.Return(output);
            }
        }
    }

    /// <summary>h= lists each signed instance by name, then the oversigned names once more. Folding may happen
    /// after any ':' (RFC 6376 §3.5 allows FWS around the colons).</summary>
    private void WriteHeaderList(ref FoldingWriter writer, scoped ReadOnlySpan<int> chosen)
    {
        var total = chosen.Length + _oversignBytes.Length;
        Span<byte> token = stackalloc byte[2 + 1 + MaxNameLength()];
        for (var i = 0; i < total; i++)
        {
            var name = i < chosen.Length ? _headerBytes[chosen[i]] : _oversignBytes[i - chosen.Length];
            var length = 0;
            if (i == 0)
            {
                "h="u8.CopyTo(token);
                length = 2;
            }
            name.CopyTo(token[length..]);
            length += name.Length;
            token[length++] = i == total - 1 ? (byte)';' : (byte)':';
            writer.WriteToken(token[..length], space: i == 0);
        }
    }

    private int MaxNameLength()
    {
        var max = 0;
        foreach (var name in _headerBytes)
        {
            max = Math.Max(max, name.Length);
        }
        foreach (var name in _oversignBytes)
        {
            max = Math.Max(max, name.Length);
        }
        return max;
    }

    /// <summary>An upper bound of one key's folded field: content plus, at worst, one fold (3 bytes) per token.</summary>
    private int FieldCapacity(KeyState key, ReadOnlySpan<int> chosen)
    {
        var names = 0;
        var tokens = 8;
        foreach (var index in chosen)
        {
            names += _headerBytes[index].Length + 1;
            tokens++;
        }
        foreach (var name in _oversignBytes)
        {
            names += name.Length + 1;
            tokens++;
        }
        var signatureChars = (key.Key.SignatureLength + 2) / 3 * 4;
        return key.Prefix.Length + 64 + names + 48 + signatureChars + 4 * (tokens + signatureChars / 40 + 2);
    }

    private static void ValidateTagValue(string value, string what)
    {
        if (string.IsNullOrEmpty(value) || !Ascii.IsValid(value) || value.AsSpan().IndexOfAny("; \t\r\n=") >= 0)
        {
            throw new ArgumentException($"The DKIM {what} '{value}' is not a valid tag value (ASCII, no ';', '=' or whitespace).");
        }
    }

    private static void ValidateHeaderName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Any(c => c is <= ' ' or >= (char)127 or ':'))
        {
            throw new ArgumentException($"'{name}' is not a header field name.");
        }
    }

    private readonly record struct FieldPosition(int Start, int NameLength, int End);

    /// <summary>A key with the start of its field ("DKIM-Signature: v=1; a=...; c=...; d=...; s=...;"), folded.</summary>
    private sealed record KeyState(DkimSigningKey Key, byte[] Prefix, int PrefixColumn)
    {
        public static KeyState Create(DkimSigningKey key)
        {
            var prefix = new byte[256 + key.Domain.Length + key.Selector.Length];
            var writer = new FoldingWriter(prefix);
            writer.WriteRaw("DKIM-Signature:"u8);
            writer.WriteToken("v=1;"u8, space: true);
            writer.WriteToken(Encoding.ASCII.GetBytes($"a={key.AlgorithmName};"), space: true);
            writer.WriteToken("c=relaxed/relaxed;"u8, space: true);
            writer.WriteToken(Encoding.ASCII.GetBytes($"d={key.Domain};"), space: true);
            writer.WriteToken(Encoding.ASCII.GetBytes($"s={key.Selector};"), space: true);
            return new KeyState(key, prefix[..writer.Written], writer.Column);
        }
    }

    /// <summary>Writes the field into a buffer, starting a continuation line (CRLF SP) whenever the next token
    /// would pass <see cref="FoldColumn"/>.</summary>
    private ref struct FoldingWriter(Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;

        public int Written { get; private set; }
        public int Column { get; private set; }

        public void WriteRaw(scoped ReadOnlySpan<byte> bytes, int? column = null)
        {
            bytes.CopyTo(_buffer[Written..]);
            Written += bytes.Length;
            Column = column ?? Column + bytes.Length;
        }

        public void WriteToken(scoped ReadOnlySpan<byte> token, bool space)
        {
            var needed = token.Length + (space ? 1 : 0);
            if (Column + needed > FoldColumn && Column > 1)
            {
                Fold();
            }
            else if (space)
            {
                _buffer[Written++] = (byte)' ';
                Column++;
            }
            WriteRaw(token);
        }

        /// <summary>A base64 value: FWS is allowed between any two characters, so lines are filled to the column.</summary>
        public void WriteBreakable(scoped ReadOnlySpan<byte> value)
        {
            // Every round writes at least one character.
            while (!value.IsEmpty)
            {
                if (Column >= FoldColumn)
                {
                    Fold();
                }
                var take = Math.Min(value.Length, FoldColumn - Column);
                WriteRaw(value[..take]);
                value = value[take..];
            }
        }

        private void Fold()
        {
            _buffer[Written++] = (byte)'\r';
            _buffer[Written++] = (byte)'\n';
            _buffer[Written++] = (byte)' ';
            Column = 1;
        }
    }
}
