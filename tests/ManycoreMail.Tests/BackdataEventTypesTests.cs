using ManycoreMail.Config;

namespace ManycoreMail.Tests;

/// <summary><c>backdata/event-types</c>: the original's kinds are always posted, ours only when listed; an unknown name is a
/// warning naming the file and key.</summary>
public sealed class BackdataEventTypesTests
{
    private static LoadedConfig Load(string eventTypes) =>
        ConfigLoader.Parse(MinimalGlobalConfig.Yaml, $"backdata:\n  post-url: http://127.0.0.1:9/events\n{eventTypes}");

    [Fact]
    public void Without_the_key_only_the_original_kinds_are_posted()
    {
        var backdata = Load("").Options.Backdata!;

        Assert.Empty(backdata.EventTypes);
        Assert.All(["delivered", "bounce", "error", "spam-report", "unsubscribe"], kind => Assert.True(backdata.Posts(kind), kind));
        Assert.All(["deferred", "open", "click", "suppressed", "made-up"], kind => Assert.False(backdata.Posts(kind), kind));
        Assert.False(backdata.Posts(null));
    }

    [Fact]
    public void Listed_kinds_of_ours_are_posted_too_and_original_ones_change_nothing()
    {
        var loaded = Load("  event-types: [delivered, bounce, Deferred, open]\n");
        var backdata = loaded.Options.Backdata!;

        Assert.Equal(["deferred", "open"], backdata.EventTypes.Order());
        Assert.True(backdata.Posts("deferred"));
        Assert.True(backdata.Posts("open"));
        Assert.False(backdata.Posts("click"));
        Assert.True(backdata.Posts("error"));
        Assert.DoesNotContain(loaded.Warnings, w => w.Contains("event-types", StringComparison.Ordinal));
    }

    [Fact]
    public void An_unknown_name_is_a_warning_naming_file_and_key()
    {
        var loaded = Load("  event-types: [opens]\n");

        var warning = Assert.Single(loaded.Warnings, w => w.Contains("event-types", StringComparison.Ordinal));
        Assert.StartsWith("customer.yaml: backdata/event-types: 'opens' is not an event type", warning, StringComparison.Ordinal);
        Assert.Empty(loaded.Options.Backdata!.EventTypes);
    }
}
