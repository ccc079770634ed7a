namespace ManycoreMail.Suppression.Tests;

/// <summary>How entries are named and normalised, and which senders an entry stops.</summary>
public sealed class SuppressionNamesTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(SuppressionScope.Global, "global")]
    [InlineData(SuppressionScope.Tenant, "tenant")]
    [InlineData(SuppressionScope.Domain, "domain")]
    [InlineData(SuppressionScope.Sender, "sender")]
    public void Scope_names_round_trip(SuppressionScope scope, string name)
    {
        Assert.Equal(name, SuppressionNames.Name(scope));
        Assert.True(SuppressionNames.TryParseScope(" " + name.ToUpperInvariant() + " ", out var back));
        Assert.Equal(scope, back);
    }

    [Theory]
    [InlineData(SuppressionReason.Unsubscribe, "unsubscribe")]
    [InlineData(SuppressionReason.Complaint, "complaint")]
    [InlineData(SuppressionReason.Bounce, "bounce")]
    [InlineData(SuppressionReason.Manual, "manual")]
    public void Reason_names_round_trip(SuppressionReason reason, string name)
    {
        Assert.Equal(name, SuppressionNames.Name(reason));
        Assert.True(SuppressionNames.TryParseReason(name, out var back));
        Assert.Equal(reason, back);
    }

    [Theory]
    [InlineData("")]
    [InlineData("nobody")]
    [InlineData("@example.com")]
    [InlineData("user@")]
    [InlineData("   ")]
    public void What_is_not_an_address_is_refused(string email)
    {
        Assert.Throws<ArgumentException>(() => SuppressionNames.NormalizeEmail(email));
        Assert.False(SuppressionNames.TryNormalizeEmail(email, out _));
    }

    [Fact]
    public void Entries_are_keyed_by_lower_case_address_and_value()
    {
        var entry = SuppressionEntry.Create(" John.Doe@Example.COM ", SuppressionScope.Sender, "News@Example.com", SuppressionReason.Manual, Now);

        Assert.Equal("john.doe@example.com", entry.Email);
        Assert.Equal("news@example.com", entry.Value);
        Assert.Equal("example.com", SuppressionEntry.Create("a@b.c", SuppressionScope.Domain, "Example.COM.", SuppressionReason.Manual, Now).Value);
        // A tenant is a name of the customer's choosing: kept as given, only trimmed.
        Assert.Equal("Acme", SuppressionEntry.Create("a@b.c", SuppressionScope.Tenant, " Acme ", SuppressionReason.Manual, Now).Value);
    }

    [Fact]
    public void A_global_entry_has_no_value_and_the_others_need_one()
    {
        Assert.Equal("", SuppressionEntry.Create("a@b.c", SuppressionScope.Global, null, SuppressionReason.Bounce, Now).Value);
        Assert.Throws<ArgumentException>(() => SuppressionEntry.Create("a@b.c", SuppressionScope.Global, "x", SuppressionReason.Bounce, Now));
        Assert.Throws<ArgumentException>(() => SuppressionEntry.Create("a@b.c", SuppressionScope.Domain, " ", SuppressionReason.Bounce, Now));
        Assert.Throws<ArgumentException>(() => SuppressionEntry.Create("a@b.c", SuppressionScope.Sender, "not-an-address", SuppressionReason.Bounce, Now));
    }

    [Fact]
    public void An_entry_is_active_until_it_expires()
    {
        var entry = SuppressionEntry.Create("a@b.c", SuppressionScope.Global, null, SuppressionReason.Manual, Now, Now.AddDays(1));

        Assert.True(entry.IsActiveAt(Now));
        Assert.False(entry.IsActiveAt(Now.AddDays(1)));
        Assert.True((entry with { Expires = null }).IsActiveAt(DateTimeOffset.MaxValue));
    }

    [Theory]
    [InlineData("global", SuppressionScope.Global, "")]
    [InlineData("sender:News@Example.com", SuppressionScope.Sender, "news@example.com")]
    [InlineData("domain:example.com", SuppressionScope.Domain, "example.com")]
    [InlineData("tenant:acme:eu", SuppressionScope.Tenant, "acme:eu")]
    public void Token_scopes_parse(string text, SuppressionScope scope, string value)
    {
        Assert.True(SuppressionNames.TryParse(text, out var parsedScope, out var parsedValue));
        Assert.Equal(scope, parsedScope);
        Assert.Equal(value, parsedValue);
        Assert.Equal(scope == SuppressionScope.Global ? "global" : SuppressionNames.Name(scope) + ":" + value, SuppressionNames.Format(scope, value));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("global:x")]
    [InlineData("sender")]
    [InlineData("sender:")]
    [InlineData("sender:nobody")]
    [InlineData("planet:earth")]
    public void Bad_token_scopes_do_not_parse(string? text) =>
        Assert.False(SuppressionNames.TryParse(text, out _, out _));

    [Fact]
    public void A_sending_context_is_stopped_only_by_entries_of_its_own_scope_values()
    {
        var context = new SendingContext("News@Example.com", "acme");
        Assert.Equal("news@example.com", context.Sender);
        Assert.Equal("example.com", context.Domain);

        bool Stops(SuppressionScope scope, string? value) =>
            context.IsStoppedBy(SuppressionEntry.Create("r@x.example", scope, value, SuppressionReason.Manual, Now));

        Assert.True(Stops(SuppressionScope.Global, null));
        Assert.True(Stops(SuppressionScope.Sender, "news@example.com"));
        Assert.False(Stops(SuppressionScope.Sender, "other@example.com"));
        Assert.True(Stops(SuppressionScope.Domain, "EXAMPLE.com"));
        Assert.False(Stops(SuppressionScope.Domain, "example.org"));
        Assert.True(Stops(SuppressionScope.Tenant, "acme"));
        Assert.False(Stops(SuppressionScope.Tenant, "Acme"));
        Assert.False(new SendingContext("news@example.com", null).IsStoppedBy(
            SuppressionEntry.Create("r@x.example", SuppressionScope.Tenant, "acme", SuppressionReason.Manual, Now)));
        Assert.Null(new SendingContext("news@example.com", " ").ValueFor(SuppressionScope.Tenant));
        Assert.Equal("news@example.com", context.ValueFor(SuppressionScope.Sender));
    }
}
