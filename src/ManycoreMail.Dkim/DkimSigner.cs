using System.Security.Cryptography;

namespace ManycoreMail.Dkim;

/// <summary>A domain's signing identity.</summary>
public sealed record DkimSigningKey(string Domain, string Selector, RSA Key)
{
    /// <summary>Load an RSA private key from PEM: PKCS#1 (BEGIN RSA PRIVATE KEY) or PKCS#8 (BEGIN PRIVATE KEY).</summary>
    /// <exception cref="DkimKeyException">No RSA private key in the text, or it cannot be read.</exception>
    public static RSA LoadRsaPrivateKey(string pem) => throw new NotImplementedException();
}

public sealed class DkimKeyException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>RFC 6376 signer: rsa-sha256, relaxed/relaxed, streamed body hash. Thread-safe.</summary>
public sealed class DkimSigner(DkimSigningKey key, IReadOnlyList<string> headersToSign, IReadOnlyList<string> oversign)
{
    /// <summary>The headers a careful sender signs (each signed once per occurrence present).</summary>
    public static readonly IReadOnlyList<string> DefaultHeaders =
    [
        "From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "MIME-Version", "Content-Type",
        "Content-Transfer-Encoding", "List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID",
    ];

    /// <summary>Named once more in h= so that nobody can add another one (a second From) later.</summary>
    public static readonly IReadOnlyList<string> DefaultOversign = ["From"];

    /// <summary>The complete "DKIM-Signature: ..." field, folded, ending in CRLF, to be put at the top of
    /// <paramref name="message"/> (CRLF line ends).</summary>
    public byte[] Sign(ReadOnlySpan<byte> message, DateTimeOffset timestamp) => throw new NotImplementedException();
}
