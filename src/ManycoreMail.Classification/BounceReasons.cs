namespace ManycoreMail.Classification;

/// <summary>
/// Names why a recipient failed, with sisimai's reason vocabulary. The remote server's words are
/// the best evidence (a 5.7.1 can be a user block, a spam verdict or an IP block), so well-known wordings
/// are tried first in an order where the more specific meaning wins; the enhanced status code decides
/// when the words say nothing we recognise.
/// </summary>
public static class BounceReasons
{
    public const string UserUnknown = "userunknown";
    public const string HostUnknown = "hostunknown";
    public const string MailboxFull = "mailboxfull";
    public const string Expired = "expired";
    public const string Undefined = "undefined";
    public const string Vacation = "vacation";
    public const string Feedback = "feedback";

    // Order matters: earlier entries are more specific. Phrases are lower case and matched as substrings.
    private static readonly (string Reason, string[] Phrases)[] Wordings =
    [
        ("requireptr", ["reverse dns", "reverse lookup", "no ptr", "ptr record", "rdns", "reverse-dns", "cannot find your hostname",
            "cannot resolve your address", "not resolve your address", "reverse dns lookup", "no reverse", "does not have a reverse",
            "ptr recor", "cannot find your reverse", "unresolvable address", "client host name", "name lookup failed", "mismatches client ip", "ptr"]),
        ("notcompliantrfc", ["multiple addresses in from", "rfc 5322", "rfc5322", "not rfc 5322 compliant", "duplicate header"]),
        // The stated cause beats the retry summary wrapped around it ("mailbox is full: retry timeout exceeded").
        ("mailboxfull", ["mailbox is full", "mailbox full", "over quota", "quota exceeded"]),
        ("notaccept", ["null mx", "does not accept mail", "doesn't receive email", "accepts no mail"]),
        ("networkerror", ["unable to establish", "wasn't able to establish"]),
        ("expired", ["message expired", "will be retried", "retried for", "have been failing", "delivery time expired", "retry timeout exceeded",
            "could not be delivered for", "warning message only", "connection timed out", "has not been delivered for"]),
        ("policyviolation", ["content presents a potential", "denied by policy", "policy reasons", "for policy", "policy violation"]),
        ("blocked", ["blacklist", "blocklist", "spamhaus", "dnsbl", "blocked using", "your ip", "ip address", "refused to talk to me", "invalid ip", "service refused", "service refuse",
            "poor reputation", "block list"]),
        ("rejected", ["sender was rejected", "sender address rejected", "google groups", "groups.google.com", "send mail as"]),
        ("networkerror", ["name service error", "dns error", "unable to establish", "wasn't able to establish", "malformed or unexpected name server reply"]),
        ("authfailure", ["spf check", "spf fail", "spf=fail", "spf record", "dkim", "dmarc", "sender policy framework", "is not designated", "not permitted by domain",
            "5.7.26", "5.7.23", "authentication failure", "authentication information", "fails to pass authentication", "authentication checks", "unauthenticated email", "fails spf", "failed spf", "spf)", " spf "]),
        ("norelaying", ["relay access denied", "relaying denied", "relay denied", "not permitted to relay", "we do not relay",
            "relaying not allowed", "unable to relay", "relay not permitted", "no relaying", "not a gateway", "relaying mail to", "relay prohibited"]),
        ("virusdetected", ["virus", "malware", "infected", "trojan"]),
        ("mesgtoobig", ["message too large", "message too big", "message size exceeds", "exceeds size limit", "message is too big",
            "message is too large", "size limit", "message length exceeds", "mail size", "message exceeds", "too large for", "exceeds the maximum size", "size exceeds"]),
        ("mailboxfull", ["mailbox full", "mailbox is full", "quota exceeded", "over quota", "overquota", "over the quota", "exceeded storage",
            "mailbox size limit", "user is over", "not enough storage", "mailfolder is full", "quota", "storage allocation", "mailbox has exceeded",
            "insufficient disk space", "disk quota", "full mailbox", "mailbox exceeded", "exceeds allowed message count", "is full", "too many messages in"]),
        ("suspend", ["account disabled", "mailbox disabled", "account has been disabled", "account is disabled", "suspended", "inactive",
            "is not active", "deactivated", "account expired", "account has expired", "disabled mailbox", "mailbox is disabled",
            "temporarily disabled", "has been frozen", "is frozen"]),
        ("hasmoved", ["has moved", "address has changed", "has been changed", "moved to", "no longer valid", "forwarding address"]),
        ("toomanyconn", ["too many connections", "too many simultaneous", "too many sessions", "connection limit", "too many concurrent",
            "too many smtp sessions", "too many open", "too many recipients"]),
        ("exceedlimit", ["exceeded the maximum", "limit exceeded", "exceeds the limit", "header size exceeds", "recipsizelimit"]),
        ("hostunknown", ["host unknown", "unknown host", "domain not found", "host not found", "name or service not known", "no such domain",
            "domain does not exist", "unrouteable mail domain", "nxdomain", "host or domain name not found", "unknown domain", "domain name not found",
            "non-existent host", "mx records point to", "no mx record", "domain is not", "no route to domain", "domain invalid", "not a valid domain",
            "invalid domain", "no valid mx", "unable to route", "host name lookup failure", "name server", "does not have an mx", "unknown mail domain",
            "recipient domain", "bad destination host", "hostname lookup", "domain lookup failed"]),
        ("userunknown", ["user unknown", "unknown user", "no such user", "user not found", "mailbox not found", "mailbox does not exist",
            "does not exist", "unknown recipient", "recipient unknown", "invalid recipient", "no mailbox", "not a valid mailbox", "recipnotfound",
            "no such mailbox", "account does not exist", "unknown address", "address unknown", "is not a known user", "user doesn't exist",
            "invalid mailbox", "bad destination mailbox", "unrouteable address", "recipient not found", "not our customer", "doesn't have a",
            "mailbox unavailable", "mailbox is unavailable", "no such recipient", "not exist", "unknown or illegal", "invalid address",
            "user invalid", "no such account", "addressee unknown", "unknown local", "not listed", "account unavailable",
            "no valid recipients", "user doesn't", "recipient name is not recognized", "name is not recognized", "mailbox name not allowed", "no such person", "user does not exist", "unknown account",
            "not a valid user", "invalid user", "unknown mailbox", "bad recipient", "no account", "not found", "unknown alias",
            "destination addresses were unknown", "no user", "user account is unavailable", "mailbox currently unavailable", "not our user",
            "mailbox unknown", "user is unknown", "address does not", "is unknown", "illegal alias", "no longer"]),
        ("rejected", ["sender rejected", "sender address rejected", "domain of sender address", "bad sender", "sender verify failed",
            "sender verification", "envelope sender", "mail from", "sender denied", "sender is not", "sender domain", "sender blocked",
            "invalid sender", "not allowed to send", "unknown sender", "sender unknown", "sender address", "senders are", "you are not authorized to send",
            "not authorized to post", "permission to post", "refused mail from", "return path"]),
        ("blocked", ["blacklist", "blocklist", "listed in", "spamhaus", "dnsbl", "rbl", "your ip", "client host rejected", "access denied",
            "poor reputation", "block list", "banned", "ip address", "connection refused", "not allowed to connect", "your host", "blocked using",
            "denied by", "reject by", "connecting ip", "ip blocked", "ip has been", "rejected by your", "has been blocked", "blocked"]),
        ("spamdetected", ["spam", "message content rejected", "uce", "bulk mail", "junk", "unsolicited", "content filter", "unwanted"]),
        ("policyviolation", ["policy", "violat", "prohibited", "not allowed", "not permitted"]),
        ("notcompliantrfc", ["rfc 5322", "rfc5322", "rfc 2822", "rfc2822", "not compliant", "multiple from", "duplicate header", "non-compliant", "invalid header"]),
        ("securityerror", ["authentication required", "tls required", "encryption required", "must issue a starttls", "requires encryption",
            "not authorized", "secure connection", "security"]),
        ("filtered", ["filtered", "not accepting mail", "refused by the user", "user reject", "rejected by recipient", "has restricted",
            "blocked by the recipient", "recipient has", "has been rejected", "does not accept", "content rejected", "delivery not authorized"]),
        ("expired", ["delivery time expired", "retry timeout exceeded", "could not be delivered for", "message expired", "queue too long",
            "giving up", "retry time", "has been delayed", "delayed", "timed out", "time limit", "timeout", "too long", "expired", "not yet been delivered",
            "unable to deliver", "still not", "has not been delivered"]),
        ("networkerror", ["network error", "mail loop", "loops back", "too many hops", "no route to host", "connection timed out",
            "could not connect", "host unreachable", "network is unreachable", "lost connection", "connection dropped", "loop", "hop count"]),
        ("mailererror", ["mailer error", "pipe to", "command died", "x-unix", "program failed", "command failed", "procmail"]),
        ("systemfull", ["insufficient system storage", "disk full", "system full", "out of disk"]),
        ("systemerror", ["system error", "local error", "internal error", "server error", "configuration error", "temporary failure", "try again later",
            "temporarily unavailable", "system is not", "service unavailable", "resources"]),
        ("notaccept", ["does not accept mail", "null mx", "not accept", "accepts no mail"]),
        ("syntaxerror", ["syntax error", "command unrecognized", "command not recognized"]),
        // Postfix's prefix with no explanation after it: the address itself was refused.
        ("userunknown", ["recipient address rejected", "address rejected"]),
    ];

    /// <summary>The reason for one failed recipient.</summary>
    /// <param name="status">Enhanced status code, if any.</param>
    /// <param name="diagnostic">The remote server's words and any explanation around them.</param>
    public static string Classify(string? status, string diagnostic) => Classify(status, diagnostic, SmtpCommands.RefusedAt(diagnostic));

    /// <summary>The reason for one failed recipient whose refusal came in reply to <paramref name="command"/>
    /// (RCPT, MAIL, DATA, CONN; null when the bounce does not say).</summary>
    public static string Classify(string? status, string diagnostic, string? command) => Classify(status, diagnostic, null, command);

    /// <summary>As <see cref="Classify(string?, string, string?)"/>, reading the <paramref name="wider"/> text (the whole
    /// explanation of the bounce) when the recipient's own lines say nothing we recognise.</summary>
    public static string Classify(string? status, string diagnostic, string? wider, string? command)
    {
        var text = diagnostic.ToLowerInvariant();
        var reason = ClassifyOne(status, text, wider?.ToLowerInvariant());
        // "User unknown" is only believed for a refusal of the address itself: at RCPT, or with an address status
        // (x.1.x). Said at or after DATA, the address had been accepted, so something filtered the message
        // (the reading of sisimai, whose labels we score against).
        if (reason == UserUnknown && !IsAddressStatus(status) && command is not ("RCPT" or "MAIL")
            && (command is not null || IsBareUserUnknown(text)))
        {
            return "filtered";
        }
        return reason;
    }

    // Where the bounce does not say which command failed, only the bare Sendmail-style reply "User unknown" with no
    // x.1.x code is read as a filter's answer; any more specific wording ("invalid recipient", "no such mailbox") is
    // what an MTA says when it refuses the address itself.
    private static bool IsBareUserUnknown(string text) =>
        text.Contains("user unknown", StringComparison.Ordinal) || text.Contains("unknown user", StringComparison.Ordinal);

    private static bool IsAddressStatus(string? status) => status is not null && status.Length > 3 && status[2] == '1' && status[3] == '.';

    private static string ClassifyOne(string? status, string text, string? wider)
    {
        var byCode = FromUnambiguousStatus(status);
        if (byCode is UserUnknown or "filtered" && FromWords(text, MoreSpecificThanCode) is { } specific)
        {
            // A 5.1.1 or 5.2.x whose words say the mailbox is full, disabled or gone elsewhere: the words are more precise.
            return specific;
        }
        if (byCode is not null)
        {
            return byCode;
        }
        return FromWords(text, null) ?? (wider is null ? null : FromWords(wider, null)) ?? FromStatus(status) ?? Undefined;
    }

    private static readonly HashSet<string> MoreSpecificThanCode = ["mailboxfull", "hasmoved", "norelaying", "suspend"];

    private static string? FromWords(string text, HashSet<string>? only)
    {
        foreach (var (reason, phrases) in Wordings)
        {
            if (only is not null && !only.Contains(reason))
            {
                continue;
            }
            foreach (var phrase in phrases)
            {
                if (text.Contains(phrase, StringComparison.Ordinal))
                {
                    return reason;
                }
            }
        }
        return null;
    }

    /// <summary>Codes whose meaning no wording changes (RFC 3463, RFC 7372, RFC 7505).</summary>
    private static string? FromUnambiguousStatus(string? status) => status?.Length > 2 ? status[2..] switch
    {
        "1.1" => UserUnknown,
        "1.2" => HostUnknown,
        "1.6" => "hasmoved",
        "1.7" or "1.8" => "rejected",
        "2.0" or "2.1" => "filtered",
        "2.2" => MailboxFull,
        "2.3" => "exceedlimit",
        "3.2" => "notaccept",
        "3.4" => "mesgtoobig",
        "4.7" => Expired,
        "7.9" => "policyviolation",
        "7.25" => "requireptr",
        "7.26" or "7.23" or "7.24" or "7.20" or "7.21" or "7.22" => "authfailure",
        _ => null,
    } : null;

    /// <summary>What a status code means when the words did not tell.</summary>
    private static string? FromStatus(string? status) => status?.Length > 2 ? status[2..] switch
    {
        "1.0" or "1.3" or "1.4" or "1.5" => UserUnknown,
        "1.7" or "1.8" => "rejected",
        "1.10" => "notaccept",
        "2.0" => "filtered",
        "2.1" => "suspend",
        "2.4" => "filtered",
        "3.0" or "3.5" => "systemerror",
        "3.1" => "systemfull",
        "3.2" => "notaccept",
        "4.0" or "4.2" or "4.6" => "networkerror",
        "4.1" => "networkerror",
        "4.3" => "systemerror",
        "4.4" => HostUnknown,
        "4.5" => "toomanyconn",
        "5.0" or "5.1" or "5.2" or "5.4" or "5.5" => "syntaxerror",
        "5.3" => "exceedlimit",
        "6.0" or "6.1" => "contenterror",
        "7.0" or "7.1" => "rejected",
        "7.7" or "7.9" or "7.8" or "7.6" => "securityerror",
        "7.13" => "suspend",
        "7.27" => "notaccept",
        _ => null,
    } : null;
}
