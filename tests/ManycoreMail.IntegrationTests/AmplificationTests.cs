using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>No amplification: a submitted message names at most <c>max-header-recipients</c> (1,000 by default)
/// addresses at either door, and one forwarded transaction sends each alias target one copy.</summary>
public sealed class AmplificationTests(TestWorld world) : IClassFixture<TestWorld>
{
    private const int DefaultLimit = 1000;

    /// <summary>A message naming <paramref name="count"/> distinct addresses, spread over To, Cc and Bcc (one per
    /// folded line), with one address repeated, which does not count twice.</summary>
    private static string Naming(int count)
    {
        var addresses = Enumerable.Range(0, count).Select(i => $"r{i}@ok.test").ToArray();
        var third = count / 3;
        string Field(string name, IEnumerable<string> list) => name + ": " + string.Join(",\r\n ", list) + "\r\n";
        var headers = Field("Cc", addresses[third..(2 * third)]) + Field("Bcc", addresses[(2 * third)..].Append(addresses[0]));
        return Messages.Simple(Messages.NewUuid(), string.Join(",\r\n ", addresses[..third]), headers);
    }

    [Fact]
    public async Task Both_receivers_refuse_a_message_naming_more_than_1000_recipients_and_take_1000()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config, ["receiver", "http-receiver"]);

        var (refusedCode, refused) = await Swaks.SendAsync(config.Receiver, Naming(DefaultLimit + 1), Swaks.TlsAuth);
        Assert.True(refusedCode != 0, refused);
        Assert.Contains($"550 5.5.3 Too many recipients: the message names {DefaultLimit + 1} addresses in To, Cc and Bcc, at most {DefaultLimit} are allowed", refused, StringComparison.Ordinal);
        var (acceptedCode, accepted) = await Swaks.SendAsync(config.Receiver, Naming(DefaultLimit), Swaks.TlsAuth);
        Assert.True(acceptedCode == 0, accepted);

        using var http = new HttpClient();
        using (var response = await PostAsync(http, config, Naming(DefaultLimit + 1)))
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, body);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var detail = JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString();
            Assert.Equal($"Too many recipients: the message names {DefaultLimit + 1} addresses in To, Cc and Bcc, at most {DefaultLimit} are allowed", detail);
        }
        using (var response = await PostAsync(http, config, Naming(DefaultLimit)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task The_limit_is_configured_per_receiver()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        var customer = File.ReadAllText(config.CustomerFile);
        foreach (var section in new[] { "httpreceiver:\n", "receiver:\n" })
        {
            Assert.Contains("\n" + section, customer, StringComparison.Ordinal);
            customer = customer.Replace("\n" + section, "\n" + section + "  max-header-recipients: 3\n", StringComparison.Ordinal);
        }
        File.WriteAllText(config.CustomerFile, customer);
        await using var mailer = await RunningMailer.StartAsync(config, ["receiver", "http-receiver"]);

        var (code, output) = await Swaks.SendAsync(config.Receiver, Naming(4), Swaks.TlsAuth);
        Assert.True(code != 0 && output.Contains("550 5.5.3 Too many recipients: the message names 4 addresses", StringComparison.Ordinal), output);
        using var http = new HttpClient();
        using var response = await PostAsync(http, config, Naming(4));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("at most 3 are allowed", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Thirty_addresses_of_a_catch_all_in_one_transaction_make_one_copy_for_its_target()
    {
        // The relay route answers the sending server only after the relay took every copy, so once swaks has
        // its 250 the relay has seen everything this transaction will ever send.
        await using var relay = SenderRelayTrustTests.StartRelay(() => null, out var port);
        using var webhook = new WebhookListener();
        var config = ForwardingTests.WriteConfig(world, webhook.Url, $"""
                route: relay
                relay:
                  host: 127.0.0.1
                  port: {port}
                  tls: none
                  username: {SenderRelayTrustTests.User}
                  password: {SenderRelayTrustTests.Password}

            """);
        await using var mailer = await RunningMailer.StartAsync(config);
        var aliases = string.Join(",", Enumerable.Range(0, 30).Select(i => $"user{i}@alias.test"));

        var (code, output) = await Swaks.SendAsync(config.Mx, "From: carol@orig.test\r\nSubject: to everyone\r\n\r\nHello\r\n",
            "--from", "carol@orig.test", "--to", aliases + ",info@alias.test");

        Assert.True(code == 0, output);
        // The catch-all's target once; info@'s own targets once each.
        Assert.Equal(["alice@ok.test", "bob@ok.test", "team@ok.test"], relay.Handler.Delivered.Select(d => d.Recipient).Order());
    }

    internal static async Task<HttpResponseMessage> PostAsync(HttpClient http, MailerConfig config, string message)
    {
        using var content = new ByteArrayContent(Messages.Bytes(message));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{config.HttpPort}/v1/mail/send") { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:secret")));
        return await http.SendAsync(request);
    }
}
