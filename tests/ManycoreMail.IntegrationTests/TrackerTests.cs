using System.Net;
using System.Text;
using System.Text.Json;
using ManycoreMail.Config;
using ManycoreMail.Roles.Tracker;
using ManycoreMail.Suppression;
using ManycoreMail.Tracking;

namespace ManycoreMail.IntegrationTests;

/// <summary>The tracker over real HTTP on a real events queue: what each link answers, what it records, and that
/// anything we did not sign is a plain 404 with nothing recorded.</summary>
public sealed class TrackerTests
{
    private const string Chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    [Fact]
    public async Task The_pixel_is_a_transparent_gif_never_cached_and_records_an_open()
    {
        await using var tracker = await TrackerHarness.StartAsync();
        var uuid = Messages.NewUuid();

        using var response = await GetAsync(tracker, tracker.LocalUrl(Sent(TrackingToken.Open(uuid, "Reader@example.com"))));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/gif", response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.CacheControl is { NoStore: true, Private: true }, response.Headers.CacheControl?.ToString());
        var gif = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal("GIF89a"u8.ToArray(), gif[..6]);
        Assert.Equal(1, gif[6] | gif[7] << 8);
        Assert.Equal(1, gif[8] | gif[9] << 8);
        // The graphic control extension (21 F9 04) marks its colour transparent (flag bit 0).
        var control = gif.AsSpan().IndexOf(new byte[] { 0x21, 0xF9, 0x04 });
        Assert.True(control > 0 && (gif[control + 3] & 1) == 1, "a transparent colour");
        Assert.Equal(0x3B, gif[^1]);

        var open = Assert.Single(await tracker.TakeEventsAsync());
        Assert.Equal("open", open.GetProperty("event").GetString());
        Assert.Equal(uuid, open.GetProperty("uuid").GetString());
        Assert.Equal("Reader@example.com", open.GetProperty("email").GetString());
        Assert.Equal("127.0.0.1", open.GetProperty("ip").GetString());
        Assert.Equal(Chrome, open.GetProperty("user_agent").GetString());
        Assert.False(open.GetProperty("machine").GetBoolean());
        Assert.Contains("tracker_opens_total 1", await tracker.MetricsTextAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_head_of_the_pixel_answers_its_headers_and_records_a_machine_open()
    {
        await using var tracker = await TrackerHarness.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Head, tracker.LocalUrl(Sent(TrackingToken.Open("m1", "reader@example.com"))));
        request.Headers.UserAgent.ParseAdd(Chrome);

        using var response = await tracker.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/gif", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal((long)TrackerEndpoint.Pixel.Length, response.Content.Headers.ContentLength);
        Assert.True(Assert.Single(await tracker.TakeEventsAsync()).GetProperty("machine").GetBoolean());
    }

    [Theory]
    [InlineData("https://shop.example.com/p?id=1&q=a%20b&utm_source=mail#reviews", "https://shop.example.com/p?id=1&q=a%20b&utm_source=mail#reviews")]
    [InlineData("http://example.org/a/../b;x?y=1&y=2&z#top", "http://example.org/a/../b;x?y=1&y=2&z#top")]
    [InlineData("https://例え.jp/パス?q=ü#straße", "https://%E4%BE%8B%E3%81%88.jp/%E3%83%91%E3%82%B9?q=%C3%BC#stra%C3%9Fe")]
    public async Task A_click_redirects_to_the_exact_url_and_records_it(string url, string location)
    {
        await using var tracker = await TrackerHarness.StartAsync();
        var uuid = Messages.NewUuid();

        using var response = await GetAsync(tracker, tracker.LocalUrl(Sent(TrackingToken.Click(uuid, "reader@example.com", url))));

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal(location, RawHeader(response, "Location"));
        Assert.True(response.Headers.CacheControl?.NoStore, "Cache-Control: no-store");
        Assert.Equal("no-referrer", RawHeader(response, "Referrer-Policy"));
        var click = Assert.Single(await tracker.TakeEventsAsync());
        Assert.Equal("click", click.GetProperty("event").GetString());
        Assert.Equal(uuid, click.GetProperty("uuid").GetString());
        Assert.Equal(url, click.GetProperty("url").GetString());
        Assert.Equal("reader@example.com", click.GetProperty("email").GetString());
        Assert.False(click.GetProperty("machine").GetBoolean());
    }

    [Fact]
    public async Task Anything_not_signed_as_it_is_used_is_404_and_records_nothing()
    {
        await using var tracker = await TrackerHarness.StartAsync();
        var open = Sent(TrackingToken.Open("m1", "reader@example.com"));
        var click = Sent(TrackingToken.Click("m1", "reader@example.com", "https://example.com/"));
        var openUrl = tracker.LocalUrl(open);
        var clickUrl = tracker.LocalUrl(click);
        var signedOpen = openUrl[(openUrl.LastIndexOf('/') + 1)..^".gif".Length];
        var signedClick = clickUrl[(clickUrl.LastIndexOf('/') + 1)..];
        var stranger = new TrackingUrls(tracker.Urls.BaseUrl, new TrackingTokenCodec(new TrackingKeys(["a key the tracker does not hold"])));
        string[] refused =
        [
            tracker.Listener + "/c/" + Tamper(signedClick),
            tracker.Listener + "/o/" + Tamper(signedOpen) + ".gif",
            tracker.Listener + "/c/" + signedOpen,
            tracker.Listener + "/o/" + signedClick + ".gif",
            tracker.Listener + "/u/" + signedClick,
            tracker.Listener + new Uri(stranger.For(click)).AbsolutePath,
            tracker.Listener + "/x/" + signedClick,
            tracker.Listener + "/",
            tracker.Listener + "/o/.gif",
            tracker.LocalUrl(Sent(TrackingToken.Click("m1", "reader@example.com", "javascript:alert(document.cookie)"))),
        ];

        foreach (var url in refused)
        {
            using var response = await GetAsync(tracker, url);
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{url}: {response.StatusCode}");
            Assert.Null(response.Headers.Location);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        Assert.Empty(await tracker.TakeEventsAsync());
        Assert.Contains($"tracker_refused_total {refused.Length}", await tracker.MetricsTextAsync(), StringComparison.Ordinal);
        Assert.Contains("tracker_clicks_total 0", await tracker.MetricsTextAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_of_the_unsubscribe_url_shows_a_self_contained_confirm_form_and_changes_nothing()
    {
        await using var tracker = await TrackerHarness.StartAsync();
        var url = tracker.LocalUrl(Sent(TrackingToken.Unsubscribe("m1", "<b>o'neil</b>&co@example.com", "sender:news@sender.test")));

        using var response = await GetAsync(tracker, url);
        using var again = await GetAsync(tracker, url);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var csp = RawHeader(response, "Content-Security-Policy");
        Assert.Contains("default-src 'none'", csp, StringComparison.Ordinal);
        Assert.Contains("form-action 'self'", csp, StringComparison.Ordinal);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("&lt;b&gt;o&#39;neil&lt;/b&gt;&amp;co@example.com", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>o'neil", html, StringComparison.Ordinal);
        Assert.Contains("<form method=\"post\">", html, StringComparison.Ordinal);
        Assert.Contains("name=\"List-Unsubscribe\" value=\"One-Click\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("src=", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("http", html, StringComparison.OrdinalIgnoreCase);

        Assert.Empty(await tracker.SuppressedAsync());
        Assert.Empty(await tracker.TakeEventsAsync());
        Assert.Contains("tracker_unsubscribes_total 0", await tracker.MetricsTextAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_one_click_post_suppresses_in_the_tokens_scope_records_unsubscribe_and_may_be_repeated()
    {
        await using var tracker = await TrackerHarness.StartAsync();
        var uuid = Messages.NewUuid();
        var url = tracker.LocalUrl(Sent(TrackingToken.Unsubscribe(uuid, "Reader@Example.com", "sender:news@sender.test")));

        using (var response = await tracker.Http.PostAsync(url, OneClick()))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("You are unsubscribed", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        // The confirm page's form (multipart here, as some clients send it) does the same, harmlessly again.
        using (var multipart = new MultipartFormDataContent { { new StringContent("One-Click"), "List-Unsubscribe" } })
        using (var response = await tracker.Http.PostAsync(url, multipart))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // One entry: the second POST replaced it.
        var entry = Assert.Single(await tracker.SuppressedAsync());
        Assert.Equal("reader@example.com", entry.Email);
        Assert.Equal(SuppressionScope.Sender, entry.Scope);
        Assert.Equal("news@sender.test", entry.Value);
        Assert.Equal(SuppressionReason.Unsubscribe, entry.Reason);
        Assert.Null(entry.Expires);
        var events = await tracker.TakeEventsAsync();
        Assert.Equal(2, events.Count);
        Assert.All(events, e =>
        {
            Assert.Equal("unsubscribe", e.GetProperty("event").GetString());
            Assert.Equal(uuid, e.GetProperty("uuid").GetString());
            Assert.Equal("Reader@Example.com", e.GetProperty("email").GetString());
            Assert.Equal("sender:news@sender.test", e.GetProperty("scope").GetString());
        });
        Assert.Contains("tracker_unsubscribes_total 2", await tracker.MetricsTextAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_post_that_is_not_the_one_click_form_changes_nothing()
    {
        await using var tracker = await TrackerHarness.StartAsync();
        var url = tracker.LocalUrl(Sent(TrackingToken.Unsubscribe("m1", "reader@example.com")));

        using (var wrongValue = await tracker.Http.PostAsync(url, new FormUrlEncodedContent([new("List-Unsubscribe", "Maybe")])))
        {
            Assert.Equal(HttpStatusCode.BadRequest, wrongValue.StatusCode);
            Assert.Contains("List-Unsubscribe=One-Click", await wrongValue.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var json = await tracker.Http.PostAsync(url, new StringContent("""{"List-Unsubscribe":"One-Click"}""", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, json.StatusCode);
        }
        var padding = new string('x', TrackerEndpoint.MaxPostBytes);
        using (var large = await tracker.Http.PostAsync(url, new FormUrlEncodedContent([new("List-Unsubscribe", "One-Click"), new("pad", padding)])))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, large.StatusCode);
        }
        using (var put = await tracker.Http.PutAsync(url, OneClick()))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, put.StatusCode);
        }

        Assert.Empty(await tracker.SuppressedAsync());
        Assert.Empty(await tracker.TakeEventsAsync());
    }

    [Fact]
    public async Task Without_unsubscribe_in_suppression_auto_the_post_records_the_event_only()
    {
        await using var tracker = await TrackerHarness.StartAsync(suppression: new SuppressionOptions { Auto = new HashSet<SuppressionReason> { SuppressionReason.Bounce } });

        using var response = await tracker.Http.PostAsync(tracker.LocalUrl(Sent(TrackingToken.Unsubscribe("m1", "reader@example.com", "domain:sender.test"))), OneClick());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(await tracker.SuppressedAsync());
        Assert.Equal("unsubscribe", Assert.Single(await tracker.TakeEventsAsync()).GetProperty("event").GetString());
    }

    [Fact]
    public async Task An_unsubscribe_from_a_tenants_scope_names_the_tenant_in_its_event()
    {
        await using var tracker = await TrackerHarness.StartAsync();

        using var tenant = await tracker.Http.PostAsync(tracker.LocalUrl(Sent(TrackingToken.Unsubscribe("m1", "reader@example.com", "tenant:acme"))), OneClick());
        using var domain = await tracker.Http.PostAsync(tracker.LocalUrl(Sent(TrackingToken.Unsubscribe("m2", "reader@example.com", "domain:sender.test"))), OneClick());

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (tenant.StatusCode, domain.StatusCode));
        var events = (await tracker.TakeEventsAsync()).ToDictionary(e => e.GetProperty("uuid").GetString()!);
        Assert.Equal(("tenant:acme", "acme"), (events["m1"].GetProperty("scope").GetString(), events["m1"].GetProperty("tenant").GetString()));
        Assert.False(events["m2"].TryGetProperty("tenant", out _));
    }

    [Fact]
    public async Task Open_click_and_unsubscribe_events_name_the_tenant_and_campaign_their_token_carries()
    {
        await using var tracker = await TrackerHarness.StartAsync();

        using var open = await GetAsync(tracker, tracker.LocalUrl(Sent(TrackingToken.Open("m1", "reader@example.com") with { Tenant = "acme", Campaign = "Frühling" })));
        using var click = await GetAsync(tracker, tracker.LocalUrl(Sent(TrackingToken.Click("m2", "reader@example.com", "https://shop.example/") with { Tenant = "acme", Campaign = "s1" })));
        // The token's tenant, though the scope is the sender's.
        using var unsubscribe = await tracker.Http.PostAsync(
            tracker.LocalUrl(Sent(TrackingToken.Unsubscribe("m3", "reader@example.com", "sender:news@sender.test") with { Tenant = "acme", Campaign = "s1" })), OneClick());
        using var bare = await GetAsync(tracker, tracker.LocalUrl(Sent(TrackingToken.Open("m4", "reader@example.com"))));

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.Found, HttpStatusCode.OK, HttpStatusCode.OK),
            (open.StatusCode, click.StatusCode, unsubscribe.StatusCode, bare.StatusCode));
        var events = (await tracker.TakeEventsAsync()).ToDictionary(e => e.GetProperty("uuid").GetString()!);
        Assert.Equal(("open", "acme", "Frühling"), Tenancy(events["m1"]));
        Assert.Equal(("click", "acme", "s1"), Tenancy(events["m2"]));
        Assert.Equal(("unsubscribe", "acme", "s1"), Tenancy(events["m3"]));
        Assert.False(events["m4"].TryGetProperty("tenant", out _));
        Assert.False(events["m4"].TryGetProperty("campaign", out _));

        static (string?, string?, string?) Tenancy(JsonElement e) =>
            (e.GetProperty("event").GetString(), e.GetProperty("tenant").GetString(), e.GetProperty("campaign").GetString());
    }

    [Fact]
    public async Task When_the_suppression_store_fails_the_client_is_told_to_retry_and_nothing_is_recorded()
    {
        await using var tracker = await TrackerHarness.StartAsync();
        await tracker.Suppressions.DisposeAsync();

        using var response = await tracker.Http.PostAsync(tracker.LocalUrl(Sent(TrackingToken.Unsubscribe("m1", "reader@example.com"))), OneClick());

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Empty(await tracker.TakeEventsAsync());
    }

    [Fact]
    public async Task A_base_url_with_a_path_is_served_with_or_without_it()
    {
        await using var tracker = await TrackerHarness.StartAsync("https://www.example.com/track/");
        var token = Sent(TrackingToken.Click("m1", "reader@example.com", "https://example.com/landing"));
        Assert.StartsWith("https://www.example.com/track/c/", tracker.Urls.For(token), StringComparison.Ordinal);

        using var full = await GetAsync(tracker, tracker.LocalUrl(token));
        using var stripped = await GetAsync(tracker, tracker.LocalUrl(token, stripBasePath: true));
        using var elsewhere = await GetAsync(tracker, tracker.Listener + "/elsewhere" + new Uri(tracker.Urls.For(token)).AbsolutePath["/track".Length..]);

        Assert.Equal(HttpStatusCode.Found, full.StatusCode);
        Assert.Equal(HttpStatusCode.Found, stripped.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, elsewhere.StatusCode);
        Assert.Equal(2, (await tracker.TakeEventsAsync()).Count);
    }

    [Fact]
    public async Task Scanners_proxies_and_early_or_bursting_clicks_are_recorded_as_machines()
    {
        await using var tracker = await TrackerHarness.StartAsync();
        var early = TrackingToken.Open("m1", "reader@example.com") with { IssuedAt = DateTimeOffset.UtcNow };

        (await GetAsync(tracker, tracker.LocalUrl(Sent(TrackingToken.Open("m1", "reader@example.com"))), "curl/8.5.0")).Dispose();
        (await GetAsync(tracker, tracker.LocalUrl(Sent(TrackingToken.Open("m2", "reader@example.com"))), "Mozilla/5.0")).Dispose();
        (await GetAsync(tracker, tracker.LocalUrl(early))).Dispose();
        // A scanner following every link of a message at once: the second link gives it away.
        (await GetAsync(tracker, tracker.LocalUrl(Sent(TrackingToken.Click("m3", "reader@example.com", "https://example.com/a"))))).Dispose();
        (await GetAsync(tracker, tracker.LocalUrl(Sent(TrackingToken.Click("m3", "reader@example.com", "https://example.com/b"))))).Dispose();

        var events = await tracker.TakeEventsAsync();
        Assert.Equal(new[] { true, true, true, false, true }, events.Select(e => e.GetProperty("machine").GetBoolean()));
        Assert.Equal(new[] { "m1", "m2", "m1", "m3", "m3" }, events.Select(e => e.GetProperty("uuid").GetString()));
    }

    [Fact]
    public async Task The_client_behind_a_trusted_proxy_is_taken_from_x_forwarded_for_and_nobody_elses_claim_is_believed()
    {
        await using var direct = await TrackerHarness.StartAsync();
        await using var proxied = await TrackerHarness.StartAsync(trustedProxies: [IPNetwork.Parse("127.0.0.0/8")]);

        foreach (var tracker in new[] { direct, proxied })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, tracker.LocalUrl(Sent(TrackingToken.Open("m1", "reader@example.com"))));
            request.Headers.TryAddWithoutValidation("User-Agent", Chrome);
            request.Headers.TryAddWithoutValidation("X-Forwarded-For", "198.51.100.9, 17.58.63.12");
            using var response = await tracker.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var claimed = Assert.Single(await direct.TakeEventsAsync());
        Assert.Equal("127.0.0.1", claimed.GetProperty("ip").GetString());
        Assert.False(claimed.GetProperty("machine").GetBoolean());
        // Through the proxy: Apple's privacy relay, so a machine.
        var forwarded = Assert.Single(await proxied.TakeEventsAsync());
        Assert.Equal("17.58.63.12", forwarded.GetProperty("ip").GetString());
        Assert.True(forwarded.GetProperty("machine").GetBoolean());
    }

    [Fact]
    public async Task When_the_events_queue_fails_the_pixel_and_redirect_are_served_and_the_loss_counted()
    {
        await using var tracker = await TrackerHarness.StartAsync();
        await tracker.Spool.DisposeAsync();

        using var pixel = await GetAsync(tracker, tracker.LocalUrl(Sent(TrackingToken.Open("m1", "reader@example.com"))));
        using var click = await GetAsync(tracker, tracker.LocalUrl(Sent(TrackingToken.Click("m1", "reader@example.com", "https://example.com/"))));

        Assert.Equal(HttpStatusCode.OK, pixel.StatusCode);
        Assert.Equal(HttpStatusCode.Found, click.StatusCode);
        Assert.Equal("https://example.com/", RawHeader(click, "Location"));
        Assert.Contains("tracker_events_failed_total 2", await tracker.MetricsTextAsync(), StringComparison.Ordinal);
    }

    /// <summary>A token made an hour ago, as if the message had been sent then: no early-open rule applies.</summary>
    private static TrackingToken Sent(TrackingToken token) => token with { IssuedAt = DateTimeOffset.UtcNow.AddHours(-1) };

    private static async Task<HttpResponseMessage> GetAsync(TrackerHarness tracker, string url, string userAgent = Chrome)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.TryAddWithoutValidation("User-Agent", userAgent);
        return await tracker.Http.SendAsync(request);
    }

    private static FormUrlEncodedContent OneClick() => new([new("List-Unsubscribe", "One-Click")]);

    /// <summary>The header as sent, not as HttpClient parses it (a Location would come back as a Uri, re-escaped).</summary>
    private static string RawHeader(HttpResponseMessage response, string name) =>
        response.Headers.NonValidated.TryGetValues(name, out var values) ? string.Join(", ", values) : "";

    /// <summary>One character in the middle changed, to another of base64url's.</summary>
    private static string Tamper(string signed)
    {
        var chars = signed.ToCharArray();
        var middle = chars.Length / 2;
        chars[middle] = chars[middle] == 'A' ? 'B' : 'A';
        return new string(chars);
    }
}
