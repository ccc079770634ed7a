using System.Text;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Queue.Redis;

namespace ManycoreMail.Queue.Tests;

/// <summary>The DSN requests and SMTPUTF8 kept beside a queued message, as both stores encode them.</summary>
public sealed class EnvelopeDsnTests
{
    private static readonly MessageEnvelope WithRequests = new()
    {
        Uuid = "u1",
        Recipients = ["a@example.com", "b@example.com"],
        Dsn = new EnvelopeDsn("HDRS", "QQ 1",
        [
            new RecipientDsn("a@example.com", "SUCCESS,FAILURE", "rfc822;orig@example.org"),
            new RecipientDsn("c@example.com", "NEVER", null),
        ]),
        Smtputf8 = true,
    };

    [Fact]
    public void The_requests_survive_the_json_both_stores_keep()
    {
        var decoded = EnvelopeCodec.Decode(EnvelopeCodec.Encode(WithRequests));
        Assert.Equal(WithRequests.Dsn!.Return, decoded.Dsn!.Return);
        Assert.Equal(WithRequests.Dsn.EnvelopeId, decoded.Dsn.EnvelopeId);
        Assert.Equal(WithRequests.Dsn.Recipients, decoded.Dsn.Recipients);
        Assert.True(decoded.Smtputf8);

        var meta = RedisItemMeta.Parse(new RedisItemMeta(7, 0, 1, WithRequests).Encode());
        Assert.Equal(WithRequests.Dsn.Recipients, meta.Envelope.Dsn!.Recipients);
    }

    [Fact]
    public void An_envelope_without_requests_writes_no_new_fields_and_old_json_reads_without_them()
    {
        var json = Encoding.UTF8.GetString(EnvelopeCodec.Encode(new MessageEnvelope { Uuid = "u1" }));
        Assert.Equal("""{"uuid":"u1","recipients":[]}""", json);
        var old = EnvelopeCodec.Decode("""{"uuid":"u1","returnPath":"r@example.com","recipients":["a@example.com"]}"""u8);
        Assert.Null(old.Dsn);
        Assert.Null(old.Smtputf8);
    }

    [Fact]
    public void A_copy_keeps_the_requests_of_its_own_recipients_only()
    {
        var forA = WithRequests.Dsn!.For(["A@example.com"]);
        Assert.Equal([new RecipientDsn("a@example.com", "SUCCESS,FAILURE", "rfc822;orig@example.org")], forA!.Recipients);
        Assert.Equal("HDRS", forA.Return);

        // Nothing for b: RET and ENVID still hold for the message.
        Assert.Empty(WithRequests.Dsn.For(["b@example.com"])!.Recipients);
        Assert.Null(new EnvelopeDsn(null, null, WithRequests.Dsn.Recipients).For(["b@example.com"]));
    }
}
