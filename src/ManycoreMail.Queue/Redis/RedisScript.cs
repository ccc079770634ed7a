using System.Security.Cryptography;
using System.Text;

namespace ManycoreMail.Queue.Redis;

/// <summary>A Lua script sent by its SHA-1 (EVALSHA); the text goes over the wire only when the
/// server does not know it yet (after a restart or SCRIPT FLUSH).</summary>
public sealed class RedisScript
{
    public RedisScript(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        Text = text;
        var hex = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(text)));
        Sha1Hex = Encoding.ASCII.GetBytes(hex);
    }

    public string Text { get; }

    /// <summary>Lower-case hex digest as ASCII bytes, the form EVALSHA takes.</summary>
    public ReadOnlyMemory<byte> Sha1Hex { get; }
}
