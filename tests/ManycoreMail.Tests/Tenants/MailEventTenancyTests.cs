using System.Text.Json;
using ManycoreMail.Events;

namespace ManycoreMail.Tests.Tenants;

public sealed class MailEventTenancyTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    public static TheoryData<string> Kinds() => ["delivered", "bounce", "deferred", "suppressed", "open", "click", "unsubscribe"];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Tenant_and_campaign_are_added_after_the_original_fields(string kind)
    {
        var plain = Event(kind);
        var marked = plain with { Tenant = "acme", Campaign = "spring" };

        var plainJson = JsonDocument.Parse(plain.ToJsonBytes()).RootElement;
        var markedJson = JsonDocument.Parse(marked.ToJsonBytes()).RootElement;

        Assert.Equal(kind, markedJson.GetProperty("event").GetString());
        Assert.Equal(("acme", "spring"), (markedJson.GetProperty("tenant").GetString(), markedJson.GetProperty("campaign").GetString()));
        // Only added: every field of the event as it was keeps its place, name and value.
        var before = plainJson.EnumerateObject().Select(p => (p.Name, p.Value.GetRawText())).ToArray();
        Assert.Equal(before, markedJson.EnumerateObject().Take(before.Length).Select(p => (p.Name, p.Value.GetRawText())));
        Assert.False(plainJson.TryGetProperty("tenant", out _));
    }

    [Fact]
    public void Error_events_stay_as_the_original_wrote_them()
    {
        var error = MailEvent.Error("postfix", "u1", At, "boom") with { Tenant = "acme" };

        Assert.False(JsonDocument.Parse(error.ToJsonBytes()).RootElement.TryGetProperty("tenant", out _));
    }

    private static MailEvent Event(string kind) => kind switch
    {
        "delivered" => MailEvent.Delivered("u1", At, "127.0.0.2", "a@x.test"),
        "bounce" => MailEvent.Bounce("u1", At, "127.0.0.2", "hard", "550", "a@x.test"),
        "deferred" => MailEvent.Deferred("u1", At, "451", "a@x.test", "throttled"),
        "suppressed" => MailEvent.Suppressed("u1", At, "a@x.test", "manual", "tenant:acme"),
        "open" => MailEvent.Open("u1", At, "a@x.test", "127.0.0.9", "agent", false),
        "click" => MailEvent.Click("u1", At, "a@x.test", "https://x.test/", "127.0.0.9", "agent", false),
        _ => MailEvent.Unsubscribe("u1", At, "a@x.test", "tenant:acme"),
    };
}
