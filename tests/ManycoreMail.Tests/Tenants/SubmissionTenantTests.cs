using System.Text;
using ManycoreMail.Ingress;
using ManycoreMail.Mime;

namespace ManycoreMail.Tests.Tenants;

public sealed class SubmissionTenantTests
{
    private const string Body = "Subject: hi\r\nX-Uuid: abc\r\n\r\nHello\r\n";

    [Fact]
    public void A_tenant_login_adds_its_tenant_in_front_of_a_message_that_names_none()
    {
        Assert.True(Apply(Bytes(Body), "acme", out var queued, out var tenant, out _));

        Assert.Equal("acme", tenant);

        Assert.Equal("X-Tenant: acme\r\n" + Body, Encoding.UTF8.GetString(queued.Span));
        Assert.True(MessageHeaders.TryParse(queued, out var headers, out _));
        Assert.Equal("acme", headers.First("X-Tenant"));
        Assert.Equal("abc", headers.First("X-Uuid"));
    }

    [Fact]
    public void The_added_line_ends_as_the_messages_lines_do()
    {
        var bareLf = Body.Replace("\r\n", "\n", StringComparison.Ordinal);

        Assert.True(Apply(Bytes(bareLf), "acme", out var queued, out _, out _));

        Assert.Equal("X-Tenant: acme\n" + bareLf, Encoding.UTF8.GetString(queued.Span));
    }

    [Fact]
    public void A_message_naming_the_logins_tenant_is_queued_as_it_is()
    {
        var message = Bytes("X-Tenant: acme\r\n" + Body);

        Assert.True(Apply(message, "acme", out var queued, out _, out _));

        Assert.True(queued.Span.SequenceEqual(message.Span));
    }

    [Fact]
    public void Without_a_login_tenant_the_message_keeps_its_own_or_none()
    {
        var named = Bytes("X-Tenant: other\r\n" + Body);
        var unnamed = Bytes(Body);

        Assert.True(Apply(named, null, out var queuedNamed, out var namedTenant, out _));
        Assert.True(Apply(unnamed, null, out var queuedUnnamed, out var unnamedTenant, out _));

        Assert.Equal(("other", null), (namedTenant, unnamedTenant));

        Assert.True(queuedNamed.Span.SequenceEqual(named.Span));
        Assert.True(queuedUnnamed.Span.SequenceEqual(unnamed.Span));
    }

    [Fact]
    public void Another_tenant_is_refused_with_5_7_1()
    {
        Assert.False(Apply(Bytes("X-Tenant: other\r\n" + Body), "acme", out _, out _, out var refusal));

        Assert.Equal((550, "5.7.1", "login acme may not send for tenant other"), (refusal.SmtpCode, refusal.EnhancedStatus, refusal.Message));
    }

    [Theory]
    [InlineData("X-Tenant: a:b", "X-Tenant")]
    [InlineData("X-Campaign: spring sale", "X-Campaign")]
    public void Malformed_tenant_or_campaign_headers_are_refused_naming_the_header(string header, string name)
    {
        Assert.False(Apply(Bytes(header + "\r\n" + Body), null, out _, out _, out var refusal));

        Assert.Equal((554, "5.6.0"), (refusal.SmtpCode, refusal.EnhancedStatus));
        Assert.StartsWith($"Malformed header {name}, expecting 1 to 64 characters", refusal.Message);
    }

    [Fact]
    public void Any_x_stream_id_is_taken_as_the_original_system_took_it()
    {
        var message = Bytes("X-Stream-Id: spring sale@x\r\n" + Body);

        Assert.True(Apply(message, null, out var queued, out _, out _));

        Assert.True(queued.Span.SequenceEqual(message.Span));
    }

    [Fact]
    public void Two_different_x_tenant_headers_are_refused()
    {
        Assert.False(Apply(Bytes("X-Tenant: acme\r\nX-Tenant: other\r\n" + Body), null, out _, out _, out var refusal));

        Assert.Equal("Conflicting X-Tenant headers", refusal.Message);
    }

    private static ReadOnlyMemory<byte> Bytes(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>The tenant rules on a message whose header block is parsed first, as the door's ingress rules do.</summary>
    private static bool Apply(ReadOnlyMemory<byte> message, string? loginTenant, out ReadOnlyMemory<byte> queued, out string? tenant, out IngressRefusal refusal)
    {
        Assert.True(MessageHeaders.TryParse(message, out var headers, out var error), error);
        return SubmissionTenant.TryApply(message, headers, loginTenant, out queued, out tenant, out refusal);
    }
}
