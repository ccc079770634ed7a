using System.Buffers;
using System.Buffers.Text;
using ManycoreMail.Smtp.Internal;

namespace ManycoreMail.Smtp.Server.Grammar;

/// <summary>What the EHLO reply offers at this point of the session.</summary>
internal readonly record struct EhloOffer(
    string ServerName, long MaxMessageSize, bool StartTls, bool Auth, bool Smtputf8, bool Chunking, bool Dsn);

/// <summary>
/// The EHLO reply (RFC 5321 §4.1.1.1): the server name, then one keyword per line. No enhanced status codes in it
/// (RFC 2034 §3). The order is fixed so that a client (or a test) reads the same list every time.
/// </summary>
internal static class EhloKeywords
{
    public static void Write(IBufferWriter<byte> writer, in EhloOffer offer)
    {
        SmtpReplyWriter.WriteLine(writer, 250, last: false, null, offer.ServerName);
        writer.Write("250-PIPELINING\r\n"u8);
        WriteSize(writer, offer.MaxMessageSize);
        if (offer.StartTls)
        {
            writer.Write("250-STARTTLS\r\n"u8);
        }

        if (offer.Auth)
        {
            writer.Write("250-AUTH PLAIN LOGIN\r\n"u8);
        }

        writer.Write("250-8BITMIME\r\n"u8);
        if (offer.Smtputf8)
        {
            writer.Write("250-SMTPUTF8\r\n"u8);
        }

        if (offer.Chunking)
        {
            writer.Write("250-CHUNKING\r\n"u8);
        }

        if (offer.Dsn)
        {
            writer.Write("250-DSN\r\n"u8);
        }

        writer.Write("250 ENHANCEDSTATUSCODES\r\n"u8);
    }

    private static void WriteSize(IBufferWriter<byte> writer, long maxMessageSize)
    {
        var span = writer.GetSpan(32);
        "250-SIZE "u8.CopyTo(span);
        Utf8Formatter.TryFormat(maxMessageSize, span[9..], out var written);
        span[9 + written] = (byte)'\r';
        span[10 + written] = (byte)'\n';
        writer.Advance(11 + written);
    }
}
