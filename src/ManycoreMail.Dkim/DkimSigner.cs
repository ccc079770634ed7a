using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using ManycoreMail.Mime;

namespace ManycoreMail.Dkim;

/// <summary>A domain's signing identity.</summary>
public sealed record DkimSigningKey(string Domain, string Selector, RSA Key)
{
    /// <summary>RFC 8301 §3.2: signers MUST use RSA keys of at least 1024 bits.</summary>
    public const int MinimumKeyBits = 1024;

    /// <summary>Load an RSA private key from PEM: PKCS#1 (BEGIN RSA PRIVATE KEY) or PKCS#8 (BEGIN PRIVATE KEY).</summary>
    /// <exception cref="DkimKeyException">No RSA private key in the text, or it cannot be read.</exception>
    public static RSA LoadRsaPrivateKey(string pem)
    {
        if (string.IsNullOrWhiteSpace(pem))
        {
            throw new DkimKeyException("The DKIM key text is empty.");
        }

        // Find the private key block ourselves, so that the error can say what was there instead.
        Range? keyBlock = null;
        string? otherLabel = null;
        var rest = pem.AsSpan();
        var offset = 0;
        // Each round moves past one PEM block.
        while (PemEncoding.TryFind(rest, out var fields))
        {
            var label = rest[fields.Label];
            if (label.SequenceEqual("RSA PRIVATE KEY") || label.SequenceEqual("PRIVATE KEY"))
            {
                if (keyBlock is not null)
                {
                    throw new DkimKeyException("The DKIM key text holds more than one private key.");
                }
                keyBlock = new Range(offset + fields.Location.Start.Value, offset + fields.Location.End.Value);
            }
            else
            {
                otherLabel ??= label.ToString();
            }
            var consumed = fields.Location.End.Value;
            rest = rest[consumed..];
            offset += consumed;
        }

        if (keyBlock is null)
        {
            throw new DkimKeyException(otherLabel switch
            {
                null => "No PEM block found in the DKIM key text (expected BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY).",
                "ENCRYPTED PRIVATE KEY" => "The DKIM key is encrypted (BEGIN ENCRYPTED PRIVATE KEY); an unencrypted key is needed.",
                "PUBLIC KEY" or "RSA PUBLIC KEY" => $"The DKIM key text holds a public key (BEGIN {otherLabel}); the private key is needed.",
                _ => $"The DKIM key text holds no private key, only BEGIN {otherLabel}; expected BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY.",
            });
        }

        var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(pem.AsSpan()[keyBlock.Value]);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            rsa.Dispose();
            throw new DkimKeyException(
                "The DKIM private key could not be read: it is not a well-formed RSA key in PKCS#1 or PKCS#8 form " +
                "(a key of another algorithm, such as EC or Ed25519, is not supported for rsa-sha256).", e);
        }
        if (rsa.KeySize < MinimumKeyBits)
        {
            var bits = rsa.KeySize;
            rsa.Dispose();
            throw new DkimKeyException($"The DKIM key has {bits} bits; RFC 8301 requires at least {MinimumKeyBits}.");
        }
        return rsa;
    }
}

public sealed class DkimKeyException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>RFC 6376 signer: rsa-sha256, relaxed/relaxed, streamed body hash. Thread-safe.</summary>
/// <remarks>
/// Per message it allocates the returned field, one <see cref="IncrementalHash"/> and little else: header
/// positions live on the stack, canonical headers and the field under construction in pooled buffers, the hashes
/// and the signature in stack memory. Everything that depends only on the key (the folded "v= a= c= d= s=" start of
/// the field, the header names as bytes) is prepared once in the constructor.
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

    private readonly RSA _key;
    private readonly string[] _headers;
    private readonly byte[][] _headerBytes;
    private readonly byte[][] _oversignBytes;
    private readonly byte[] _prefix;
    private readonly int _prefixColumn;
    private readonly int _signatureLength;
    private readonly int _fromIndex;

    public DkimSigner(DkimSigningKey key, IReadOnlyList<string> headersToSign, IReadOnlyList<string> oversign)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(key.Key);
        ArgumentNullException.ThrowIfNull(headersToSign);
        ArgumentNullException.ThrowIfNull(oversign);
        ValidateTagValue(key.Domain, "domain");
        ValidateTagValue(key.Selector, "selector");

        _key = key.Key;
        _signatureLength = (key.Key.KeySize + 7) / 8;
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

        var prefix = new byte[256 + key.Domain.Length + key.Selector.Length];
        var writer = new FoldingWriter(prefix);
        writer.WriteRaw("DKIM-Signature:"u8);
        writer.WriteToken("v=1;"u8, space: true);
        writer.WriteToken("a=rsa-sha256;"u8, space: true);
        writer.WriteToken("c=relaxed/relaxed;"u8, space: true);
        writer.WriteToken(Encoding.ASCII.GetBytes($"d={key.Domain};"), space: true);
        writer.WriteToken(Encoding.ASCII.GetBytes($"s={key.Selector};"), space: true);
        _prefix = prefix[..writer.Written];
        _prefixColumn = writer.Column;
    }

    public IReadOnlyList<string> HeadersToSign => _headers;

    /// <summary>The complete "DKIM-Signature: ..." field, folded, ending in CRLF, to be put at the top of
    /// <paramref name="message"/> (CRLF line ends).</summary>
    /// <exception cref="FormatException">The message's header block is malformed.</exception>
    public byte[] Sign(ReadOnlySpan<byte> message, DateTimeOffset timestamp) => Sign(message, default, bodyIsSeparate: false, timestamp);

    /// <summary>The same for a message held as two pieces: <paramref name="header"/> is its header block (up to and
    /// including the empty line) and <paramref name="body"/> what follows it, wherever it lives.</summary>
    /// <exception cref="FormatException">The header block is malformed.</exception>
    public byte[] Sign(ReadOnlySpan<byte> header, ReadOnlySpan<byte> body, DateTimeOffset timestamp) => Sign(header, body, bodyIsSeparate: true, timestamp);

    private byte[] Sign(ReadOnlySpan<byte> message, ReadOnlySpan<byte> separateBody, bool bodyIsSeparate, DateTimeOffset timestamp)
    {
        FieldPosition[]? rentedFields = null;
        byte[]? canonical = null;
        byte[]? field = null;
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

            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            Span<byte> bodyHash = stackalloc byte[32];
            RelaxedCanonicalization.HashBody(bodyIsSeparate ? separateBody : message[reader.BodyOffset..], hash);
            hash.GetHashAndReset(bodyHash);

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
            var fieldCapacity = FieldCapacity(chosen);
            canonical = ArrayPool<byte>.Shared.Rent(hashedLength + fieldCapacity + 2);
            var canonicalLength = 0;
            foreach (var f in chosenFields[..chosenCount])
            {
                canonicalLength += RelaxedCanonicalization.CanonicalizeHeader(
                    message[fields[f].Start..fields[f].End], canonical.AsSpan(canonicalLength));
            }

            field = ArrayPool<byte>.Shared.Rent(fieldCapacity);
            var writer = new FoldingWriter(field);
            writer.WriteRaw(_prefix, _prefixColumn);
            Span<byte> number = stackalloc byte[24];
            "t="u8.CopyTo(number);
            Utf8Formatter.TryFormat(timestamp.ToUnixTimeSeconds(), number[2..], out var digits);
            number[2 + digits] = (byte)';';
            writer.WriteToken(number[..(digits + 3)], space: true);
            WriteHeaderList(ref writer, chosen);

            Span<byte> bodyHashTag = stackalloc byte[4 + 44];
            "bh="u8.CopyTo(bodyHashTag);
            Base64.EncodeToUtf8(bodyHash, bodyHashTag[3..], out _, out var bodyHashChars);
            bodyHashTag[3 + bodyHashChars] = (byte)';';
            writer.WriteToken(bodyHashTag[..(4 + bodyHashChars)], space: true);
            writer.WriteToken("b="u8, space: true);

            // The signature covers the field itself with an empty b=, relaxed, without its final CRLF (§3.7).
            var signedFieldLength = RelaxedCanonicalization.CanonicalizeHeader(field.AsSpan(0, writer.Written), canonical.AsSpan(canonicalLength)) - 2;
            hash.AppendData(canonical, 0, canonicalLength + signedFieldLength);
            Span<byte> headerHash = stackalloc byte[32];
            hash.GetHashAndReset(headerHash);

            Span<byte> signature = stackalloc byte[_signatureLength];
            if (!_key.TrySignHash(headerHash, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1, out var signatureLength))
            {
                throw new CryptographicException("The RSA signature did not fit the buffer sized from the key.");
            }
            Span<byte> signatureBase64 = stackalloc byte[(signatureLength + 2) / 3 * 4];
            Base64.EncodeToUtf8(signature[..signatureLength], signatureBase64, out _, out var signatureChars);
            writer.WriteBreakable(signatureBase64[..signatureChars]);
            writer.WriteRaw("\r\n"u8);
            return field.AsSpan(0, writer.Written).ToArray();
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
            if (field is not null)
            {
                ArrayPool<byte>.Shared.Return(field);
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

    /// <summary>An upper bound of the folded field: content plus, at worst, one fold (3 bytes) per token.</summary>
    private int FieldCapacity(ReadOnlySpan<int> chosen)
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
        var signatureChars = (_signatureLength + 2) / 3 * 4;
        return _prefix.Length + 64 + names + 48 + signatureChars + 4 * (tokens + signatureChars / 40 + 2);
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
