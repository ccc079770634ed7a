using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace ManycoreMail.Tracking.Tests;

/// <summary>Secrets and a token writer of the tests' own, built from the layout documented on
/// <see cref="TrackingTokenCodec"/> rather than from its code, so that a test can sign bytes the codec never would.</summary>
internal static class TestKeys
{
    public const string Current = "current tracking secret 0123456789";
    public const string Previous = "previous tracking secret 9876543210";
    public const string Removed = "removed tracking secret abcdefghij";

    public static TrackingTokenCodec Codec(params string[] secrets) => new(new TrackingKeys(secrets));

    public static byte[] KeyId(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret))[..4];

    /// <summary>Version, kind, key id, time, then the given body, then the tag over all of it under <paramref name="secret"/>.</summary>
    public static string Sign(string secret, byte version, byte kind, byte[] body, byte[]? keyId = null, uint issuedAt = 0)
    {
        var signed = new List<byte> { version, kind };
        signed.AddRange(keyId ?? KeyId(secret));
        var time = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(time, issuedAt);
        signed.AddRange(time);
        signed.AddRange(body);
        var tag = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed.ToArray())[..16];
        return Base64Url.EncodeToString([.. signed, .. tag]);
    }

    /// <summary>A uuid field then length-prefixed fields, as the layout has them.</summary>
    public static byte[] Body(string uuid, params byte[][] fields)
    {
        var body = new List<byte> { (byte)uuid.Length };
        body.AddRange(Encoding.ASCII.GetBytes(uuid));
        foreach (var field in fields)
        {
            var length = new byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)field.Length);
            body.AddRange(length);
            body.AddRange(field);
        }
        return [.. body];
    }

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Version 2's tenant and campaign, each a one-byte length (0 for none) and its bytes.</summary>
    public static byte[] Tenancy(string? tenant, string? campaign)
    {
        var tenantBytes = Encoding.ASCII.GetBytes(tenant ?? "");
        var campaignBytes = Utf8(campaign ?? "");
        return [(byte)tenantBytes.Length, .. tenantBytes, (byte)campaignBytes.Length, .. campaignBytes];
    }
}
