namespace ManycoreMail.Templates.Tests;

/// <summary>What every template store does, run against SQLite and PostgreSQL.</summary>
public abstract class TemplateStoreContractTests : IAsyncLifetime
{
    private readonly List<ITemplateStore> _stores = [];

    protected abstract Task<ITemplateStore> OpenStoreAsync();

    protected virtual Task DeleteStoreAsync() => Task.CompletedTask;

    protected async Task<ITemplateStore> OpenAsync()
    {
        var store = await OpenStoreAsync();
        _stores.Add(store);
        return store;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        await DeleteStoreAsync();
    }

    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Each_put_is_a_new_version_and_get_reads_latest_or_a_given_one()
    {
        var store = await OpenAsync();

        Assert.Equal(1, await store.PutAsync("welcome", new TemplateContent("S1", "T1", null), None));
        Assert.Equal(2, await store.PutAsync("welcome", new TemplateContent("S2", null, "<p>H2</p>"), None));
        Assert.Equal(1, await store.PutAsync("other", new TemplateContent(null, "x", null), None));

        var latest = await store.GetAsync("welcome", null, None);
        Assert.NotNull(latest);
        Assert.Equal(2, latest.Version);
        Assert.Equal(new TemplateContent("S2", null, "<p>H2</p>"), latest.Content);
        var first = await store.GetAsync("welcome", 1, None);
        Assert.NotNull(first);
        Assert.Equal(new TemplateContent("S1", "T1", null), first.Content);
        Assert.Null(await store.GetAsync("welcome", 3, None));
        Assert.Null(await store.GetAsync("missing", null, None));
    }

    [Fact]
    public async Task List_shows_every_name_with_its_latest_version_in_name_order()
    {
        var store = await OpenAsync();
        await store.PutAsync("b", new TemplateContent(null, "1", null), None);
        await store.PutAsync("a", new TemplateContent(null, "1", null), None);
        await store.PutAsync("b", new TemplateContent(null, "2", null), None);

        Assert.Equal([new TemplateSummary("a", 1), new TemplateSummary("b", 2)], await store.ListAsync(None));
    }

    [Fact]
    public async Task Delete_removes_every_version_and_says_whether_there_was_one()
    {
        var store = await OpenAsync();
        await store.PutAsync("gone", new TemplateContent(null, "1", null), None);
        await store.PutAsync("gone", new TemplateContent(null, "2", null), None);
        await store.PutAsync("kept", new TemplateContent(null, "1", null), None);

        Assert.True(await store.DeleteAsync("gone", None));
        Assert.False(await store.DeleteAsync("gone", None));
        Assert.Null(await store.GetAsync("gone", 1, None));
        Assert.Null(await store.GetAsync("gone", null, None));
        Assert.Equal([new TemplateSummary("kept", 1)], await store.ListAsync(None));
    }

    [Fact]
    public async Task Unicode_content_round_trips()
    {
        var store = await OpenAsync();
        var content = new TemplateContent("Grüße {{name}} 🎉", "日本語", "<p>✓ – Zoë</p>");
        await store.PutAsync("unicode", content, None);

        Assert.Equal(content, (await store.GetAsync("unicode", null, None))!.Content);
    }

    [Fact]
    public async Task Versions_survive_reopening_the_store()
    {
        var store = await OpenAsync();
        await store.PutAsync("kept", new TemplateContent(null, "1", null), None);

        var reopened = await OpenAsync();

        Assert.Equal(2, await reopened.PutAsync("kept", new TemplateContent(null, "2", null), None));
        Assert.Equal("1", (await reopened.GetAsync("kept", 1, None))!.Content.Text);
    }

    [Fact]
    public async Task Concurrent_puts_get_distinct_versions()
    {
        var store = await OpenAsync();

        var versions = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            Task.Run(() => store.PutAsync("busy", new TemplateContent(null, $"{i}", null), None))));

        Assert.Equal(Enumerable.Range(1, 8), versions.Order());
    }

    [Fact]
    public async Task A_bad_name_is_refused_on_put_and_found_nowhere()
    {
        var store = await OpenAsync();

        await Assert.ThrowsAsync<ArgumentException>(() => store.PutAsync("bad name", new TemplateContent(null, "x", null), None));
        Assert.Null(await store.GetAsync("bad name", null, None));
        Assert.False(await store.DeleteAsync("bad name", None));
    }
}
