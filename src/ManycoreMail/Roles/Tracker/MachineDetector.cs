using System.Buffers;
using System.Net;
using ManycoreMail.Tracking;

namespace ManycoreMail.Roles.Tracker;

/// <summary>One open or click as the detector sees it.</summary>
/// <param name="Token">The verified token (its kind, message, recipient, URL and issue time).</param>
/// <param name="IsHead">A HEAD request: a person's browser or mail client never sends one to follow a link.</param>
/// <param name="ClientIp">The TCP peer.</param>
/// <param name="UserAgent">The User-Agent header, null when absent.</param>
/// <param name="At">When the request came.</param>
internal readonly record struct TrackingHit(TrackingToken Token, bool IsHead, IPAddress? ClientIp, string? UserAgent, DateTimeOffset At);

/// <summary>Why an open or click is taken for a machine's; <see cref="Person"/> when nothing says so.</summary>
internal enum MachineSignal
{
    Person,
    HeadRequest,
    MissingUserAgent,
    PrivacyProxy,
    AutomatedAgent,
    SoonAfterDelivery,
    LinkBurst,
}

/// <summary>
/// Tells opens and clicks that look automated (<c>"machine": true</c>) from a person's: image and privacy proxies
/// that fetch every pixel on delivery (Apple Mail Privacy Protection, Gmail, Yahoo), security gateways that follow
/// every link before the recipient sees the message (Barracuda, Mimecast, Proofpoint, Microsoft Safe Links), HTTP
/// libraries and headless browsers. The rules are documented in docs/configuration.md (tracking, machine detection).
/// Thread-safe; the only state is a small bounded window of recent clicks, per instance, so a burst spread over
/// several tracker instances may go unseen (the other rules do not depend on it).
/// </summary>
internal sealed class MachineDetector(MachineDetectorOptions options)
{
    private readonly ClickBurstWindow _clicks = new(options.BurstWindow, options.BurstCapacity);

    public MachineDetector() : this(new MachineDetectorOptions())
    {
    }

    public bool IsMachine(TrackingHit hit) => Classify(hit) != MachineSignal.Person;

    /// <summary>The first rule that matches, in the order documented. A click is always entered into the burst
    /// window, whatever else matched, so that a scanner's next click is seen as part of its burst.</summary>
    public MachineSignal Classify(TrackingHit hit)
    {
        var burst = hit.Token.Kind == TrackingKind.Click
            && _clicks.IsBurst(hit.Token.MessageUuid, hit.Token.Recipient, hit.Token.Url!, hit.At);
        if (hit.IsHead)
        {
            return MachineSignal.HeadRequest;
        }
        var agent = hit.UserAgent?.Trim();
        if (string.IsNullOrEmpty(agent))
        {
            return MachineSignal.MissingUserAgent;
        }
        if (IsPrivacyProxy(agent, hit.ClientIp))
        {
            return MachineSignal.PrivacyProxy;
        }
        if (agent.AsSpan().ContainsAny(AutomatedAgents))
        {
            return MachineSignal.AutomatedAgent;
        }
        if (hit.At - hit.Token.IssuedAt < options.SoonAfterIssue)
        {
            // Also when the tracker's clock is behind the transformer's (a negative age): nobody reads a message
            // before it is sent.
            return MachineSignal.SoonAfterDelivery;
        }
        return burst ? MachineSignal.LinkBurst : MachineSignal.Person;
    }

    private static bool IsPrivacyProxy(string agent, IPAddress? ip)
    {
        // Apple's Mail Privacy Protection fetches through relays that send exactly this and nothing more; no browser
        // or mail client sends a bare product token.
        if (agent == "Mozilla/5.0")
        {
            return true;
        }
        return ip is not null && InAppleNetwork(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip);
    }

    /// <summary>17.0.0.0/8 belongs to Apple; its privacy relays fetch from there.</summary>
    private static bool InAppleNetwork(IPAddress ip)
    {
        if (ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return false;
        }
        Span<byte> bytes = stackalloc byte[4];
        return ip.TryWriteBytes(bytes, out _) && bytes[0] == 17;
    }

    /// <summary>Parts of User-Agent headers of proxies, scanners, link previewers and HTTP libraries, matched
    /// case-insensitively anywhere in the header. Chosen so that no mainstream browser or mail client sends one.</summary>
    internal static readonly IReadOnlyList<string> AutomatedAgentParts =
    [
        // Image proxies that fetch the pixel for the recipient (or for everyone, on delivery).
        "GoogleImageProxy", "ggpht.com", "YahooMailProxy", "Yahoo! Slurp",
        // Security gateways that follow links before delivery.
        "Barracuda", "Mimecast", "Proofpoint", "urldefense", "SafeLinks", "Microsoft Defender", "ms-office", "MSOffice",
        "IronPort", "CiscoSecureEmail", "Trend Micro", "Symantec", "Forcepoint", "FortiGuard", "Sophos", "Zscaler",
        "Check Point", "Vade", "SpamTitan",
        // HTTP libraries and headless browsers.
        "python-requests", "python-urllib", "aiohttp", "httpx", "curl/", "Wget", "Go-http-client", "Java/", "okhttp",
        "Apache-HttpClient", "libwww-perl", "node-fetch", "axios/", "undici", "HeadlessChrome", "PhantomJS", "Puppeteer",
        "Playwright", "Selenium", "Scrapy",
        // Crawlers and link previews.
        "Googlebot", "bingbot", "BingPreview", "Slackbot", "Twitterbot", "LinkedInBot", "facebookexternalhit",
        "Discordbot", "TelegramBot", "WhatsApp", "SkypeUriPreview", "crawler", "spider",
    ];

    private static readonly SearchValues<string> AutomatedAgents =
        SearchValues.Create([.. AutomatedAgentParts], StringComparison.OrdinalIgnoreCase);
}

/// <summary>The detector's thresholds (not configuration: the documented rules).</summary>
internal sealed record MachineDetectorOptions
{
    /// <summary>An open or click this soon after the token was made (about when the message was sent) is a
    /// gateway's or a proxy's: a person needs longer to get to the message.</summary>
    public TimeSpan SoonAfterIssue { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Two different links of one message and recipient followed this close together are a scanner's.</summary>
    public TimeSpan BurstWindow { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Recipients remembered at most (about 100 bytes each).</summary>
    public int BurstCapacity { get; init; } = 10_000;
}
