using System.Collections.Frozen;
using System.Text.RegularExpressions;

namespace ManycoreMail.Classification;

/// <summary>
/// Names why a recipient failed, with sisimai's reason vocabulary, from meaning rather than from any corpus: first the
/// enhanced status code where RFC 3463 (and its successors) gives its subject and detail one meaning (x.1.1 is always
/// a bad mailbox), then the remote server's words through one ordered wording table (a 5.7.1 can be a user block, a
/// spam verdict or an IP block: the words tell), then what a code means when the words said nothing we recognise.
/// The sender's synchronous refusals and the MX server's DSNs both come here, so the same reply gets the same class.
/// </summary>
public static partial class BounceReasons
{
    public const string UserUnknown = "userunknown";
    public const string HostUnknown = "hostunknown";
    public const string MailboxFull = "mailboxfull";
    public const string Expired = "expired";
    public const string Undefined = "undefined";
    public const string Vacation = "vacation";
    public const string Feedback = "feedback";

    // Order matters: earlier rules are more specific. Phrases are lower case and matched as substrings of the reply
    // with its RFC 5321 continuation prefixes ("550-5.7.1 ") taken out. The English wordings are the MTAs' and large
    // providers' documented replies; each reason also lists how localised MTAs (German, French, Spanish, Italian,
    // Portuguese, Dutch, Polish, Russian, Japanese, Chinese) say it.
    private static readonly WordingTable Wordings = new(
    [
        // Gmail's documented 5.7.1 for a sender with a very low reputation (sisimai: badreputation), before "ip address" means a block.
        new("badreputation", ["low reputation", "bad reputation", "reputation of the sending", "sender reputation", "ip reputation is"]),
        new("spamdetected", ["spam classification", "classified as spam", "detected as spam", "identified as spam", "considered spam",
            "als spam", "spam erkannt", "comme spam", "pourriel", "correo no deseado", "como spam", "спам", "迷惑メール", "垃圾邮件"]),
        new("hostunknown", ["host or domain name not found", "domain existiert nicht", "unbekannte domain", "domaine inconnu", "domaine introuvable",
            "dominio desconocido", "dominio no existe", "domena nie istnieje", "домен не найден", "домен не существует", "ドメインが存在しません", "域名不存在"]),
        new("requireptr", ["reverse dns", "reverse lookup", "no ptr", "ptr record", "rdns", "reverse-dns", "cannot find your hostname",
            "cannot resolve your address", "not resolve your address", "reverse dns lookup", "no reverse", "does not have a reverse",
            "ptr recor", "cannot find your reverse", "unresolvable address", "client host name", "name lookup failed", "mismatches client ip",
            "ptr"]),
        new("notcompliantrfc", ["multiple addresses in from", "rfc 5322", "rfc5322", "not rfc 5322 compliant", "duplicate header"]),
        // The stated cause beats the retry summary wrapped around it ("mailbox is full: retry timeout exceeded").
        new("mailboxfull", ["mailbox is full", "mailbox full", "over quota", "quota exceeded", "postfach ist voll", "postfach voll", "speicherplatz",
            "quota überschritten", "kontingent überschritten", "boîte aux lettres pleine", "boite aux lettres pleine", "boîte pleine", "quota dépassé",
            "espace insuffisant", "buzón lleno", "buzon lleno", "buzón está lleno", "cuota excedida", "casella piena", "casella di posta piena",
            "caixa postal cheia", "caixa de correio cheia", "skrzynka jest pełna", "skrzynka pełna", "przepełnion", "ящик переполнен", "переполнен",
            "容量超過", "容量オーバー", "メールボックスがいっぱい", "邮箱已满", "邮箱空间不足", "容量已满"]),
        new("notaccept", ["null mx", "does not accept mail", "doesn't receive email", "accepts no mail"]),
        new("networkerror", ["unable to establish", "wasn't able to establish"]),
        new("expired", ["message expired", "will be retried", "retried for", "have been failing", "delivery time expired", "retry timeout exceeded",
            "could not be delivered for", "warning message only", "connection timed out", "has not been delivered for"]),
        new("policyviolation", ["content presents a potential", "denied by policy", "policy reasons", "for policy", "policy violation"]),
        new("blocked", ["blacklist", "blocklist", "spamhaus", "dnsbl", "blocked using", "your ip", "ip address", "refused to talk to me", "invalid ip",
            "service refused", "service refuse",
            "poor reputation", "block list"]),
        new("rejected", ["sender was rejected", "sender address rejected", "google groups", "groups.google.com", "send mail as"]),
        new("networkerror", ["name service error", "dns error", "unable to establish", "wasn't able to establish",
            "malformed or unexpected name server reply"]),
        new("authfailure", ["spf check", "spf fail", "spf=fail", "spf record", "dkim", "dmarc", "sender policy framework", "is not designated",
            "not permitted by domain",
            "5.7.26", "5.7.23", "authentication failure", "authentication information", "fails to pass authentication", "authentication checks",
            "unauthenticated email", "fails spf", "failed spf", "spf)", " spf "]),
        new("norelaying", ["relay access denied", "relaying denied", "relay denied", "not permitted to relay", "we do not relay",
            "relaying not allowed", "unable to relay", "relay not permitted", "no relaying", "not a gateway", "relaying mail to",
            "relay prohibited"]),
        new("virusdetected", ["virus", "malware", "infected", "trojan", "virus erkannt", "virus détecté", "virus detectado", "вирус", "ウイルス", "病毒"]),
        new("mesgtoobig", ["message too large", "message too big", "message size exceeds", "exceeds size limit", "message is too big",
            "message is too large", "size limit", "message length exceeds", "mail size", "message exceeds", "too large for",
            "exceeds the maximum size", "size exceeds", "zu groß", "trop volumineux", "trop gros", "demasiado grande", "troppo grande",
            "слишком больш", "za duża", "サイズが大きすぎ", "过大"]),
        new("mailboxfull", ["mailbox full", "mailbox is full", "quota exceeded", "over quota", "overquota", "over the quota", "exceeded storage",
            "mailbox size limit", "user is over", "not enough storage", "mailfolder is full", "quota", "storage allocation", "mailbox has exceeded",
            "insufficient disk space", "disk quota", "full mailbox", "mailbox exceeded", "exceeds allowed message count", "is full",
            "too many messages in"]),
        new("suspend", ["account disabled", "is disabled", "mailbox disabled", "account has been disabled", "account is disabled", "suspended",
            "inactive",
            "is not active", "deactivated", "account expired", "account has expired", "disabled mailbox", "mailbox is disabled",
            "temporarily disabled", "has been frozen", "is frozen", "konto deaktiviert", "postfach deaktiviert", "konto gesperrt",
            "konto ist gesperrt", "postfach gesperrt", "compte désactivé", "compte suspendu", "cuenta desactivada", "cuenta suspendida",
            "konto zablokowane", "konto zawieszone", "аккаунт отключен", "ящик отключен", "аккаунт заблокирован", "ящик заблокирован", "停止されています",
            "已停用", "已冻结"]),
        new("hasmoved", ["has moved", "address has changed", "has been changed", "moved to", "no longer valid", "forwarding address"]),
        new("ratelimited", ["rate limit", "ratelimit", "rate that prevents", "sending rate", "unusual rate", "too many messages from",
            "received too many messages", "exceeded the rate", "throttled", "throttling", "sending too fast", "too much mail"]),
        new("toomanyconn", ["too many connections", "too many simultaneous", "too many sessions", "connection limit", "too many concurrent",
            "too many smtp sessions", "too many open", "too many recipients"]),
        new("exceedlimit", ["exceeded the maximum", "limit exceeded", "exceeds the limit", "header size exceeds", "recipsizelimit"]),
        new("hostunknown", ["host unknown", "unknown host", "domain not found", "host not found", "name or service not known", "no such domain",
            "domain does not exist", "unrouteable mail domain", "nxdomain", "host or domain name not found", "unknown domain",
            "domain name not found",
            "non-existent host", "mx records point to", "no mx record", "domain is not", "no route to domain", "domain invalid", "not a valid domain",
            "invalid domain", "no valid mx", "unable to route", "host name lookup failure", "name server", "does not have an mx",
            "unknown mail domain",
            "recipient domain", "bad destination host", "hostname lookup", "domain lookup failed"]),
        new("userunknown", ["user unknown", "unknown user", "no such user", "user not found", "mailbox not found", "mailbox does not exist",
            "does not exist", "unknown recipient", "recipient unknown", "invalid recipient", "no mailbox", "not a valid mailbox", "recipnotfound",
            "no such mailbox", "account does not exist", "unknown address", "address unknown", "is not a known user", "user doesn't exist",
            "invalid mailbox", "bad destination mailbox", "unrouteable address", "recipient not found", "not our customer", "doesn't have a",
            "mailbox unavailable", "mailbox is unavailable", "no such recipient", "not exist", "unknown or illegal", "invalid address",
            "user invalid", "no such account", "addressee unknown", "unknown local", "not listed", "account unavailable",
            "no valid recipients", "user doesn't", "recipient name is not recognized", "name is not recognized", "mailbox name not allowed",
            "no such person", "user does not exist", "unknown account",
            "not a valid user", "invalid user", "unknown mailbox", "bad recipient", "no account", "not found", "unknown alias",
            "destination addresses were unknown", "no user", "user account is unavailable", "mailbox currently unavailable", "not our user",
            "mailbox unknown", "user is unknown", "address does not", "is unknown", "illegal alias", "no longer", "benutzer unbekannt",
            "empfänger unbekannt", "adresse unbekannt", "unbekannter empfänger", "existiert nicht", "gibt es nicht", "kein postfach",
            "utilisateur inconnu", "destinataire inconnu", "adresse inconnue", "n'existe pas", "introuvable", "usuario desconocido",
            "destinatario desconocido", "no existe", "utente sconosciuto", "destinatario sconosciuto", "non esiste", "usuário desconhecido",
            "utilizador desconhecido", "não existe", "bestaat niet", "onbekende gebruiker", "nie istnieje", "nieznany użytkownik", "nieznany adresat",
            "brak użytkownika", "не существует", "пользователь не найден", "неизвестный пользователь", "нет такого пользователя", "адрес не найден",
            "存在しません", "宛先不明", "該当ユーザ", "用户不存在", "收件人不存在", "帐户不存在", "账户不存在", "不存在"]),
        new("rejected", ["sender rejected", "sender address rejected", "domain of sender address", "bad sender", "sender verify failed",
            "sender verification", "envelope sender", "mail from", "sender denied", "sender is not", "sender domain", "sender blocked",
            "invalid sender", "not allowed to send", "unknown sender", "sender unknown", "sender address", "senders are",
            "you are not authorized to send",
            "not authorized to post", "permission to post", "refused mail from", "return path"]),
        new("blocked", ["blacklist", "blocklist", "listed in", "spamhaus", "dnsbl", "rbl", "your ip", "client host rejected", "access denied",
            "poor reputation", "block list", "banned", "ip address", "connection refused", "not allowed to connect", "your host", "blocked using",
            "denied by", "reject by", "connecting ip", "ip blocked", "ip has been", "rejected by your", "has been blocked", "blocked", "bloqué",
            "bloqueado", "zablokowan", "ブロック", "拦截"]),
        new("spamdetected", ["spam", "message content rejected", "uce", "bulk mail", "junk", "unsolicited", "content filter", "unwanted"]),
        new("policyviolation", ["policy", "violat", "prohibited", "not allowed", "not permitted"]),
        new("notcompliantrfc", ["rfc 5322", "rfc5322", "rfc 2822", "rfc2822", "not compliant", "multiple from", "duplicate header", "non-compliant",
            "invalid header"]),
        new("securityerror", ["authentication required", "tls required", "encryption required", "must issue a starttls", "requires encryption",
            "not authorized", "secure connection", "security"]),
        new("contenterror", ["content error", "invalid content", "malformed message", "mime error", "invalid mime", "illegal character",
            "8bit data", "8-bit data", "bare lf", "bare linefeed", "non-ascii", "conversion required"]),
        new("onhold", ["on hold", "held for review", "held in queue", "quarantined for review"]),
        new("filtered", ["filtered", "not accepting mail", "refused by the user", "user reject", "rejected by recipient", "has restricted",
            "blocked by the recipient", "recipient has", "has been rejected", "does not accept", "content rejected", "delivery not authorized"]),
        new("expired", ["delivery time expired", "retry timeout exceeded", "could not be delivered for", "message expired", "queue too long",
            "giving up", "retry time", "has been delayed", "delayed", "timed out", "time limit", "timeout", "too long", "expired",
            "not yet been delivered",
            "unable to deliver", "still not", "has not been delivered", "zeitüberschreitung", "délai expiré", "délai dépassé",
            "tiempo de espera agotado", "tiempo expirado", "przekroczono czas", "истекло время", "期限切れ", "超时"]),
        new("networkerror", ["network error", "mail loop", "loops back", "too many hops", "no route to host", "connection timed out",
            "could not connect", "host unreachable", "network is unreachable", "lost connection", "connection dropped", "loop", "hop count"]),
        new("mailererror", ["mailer error", "pipe to", "command died", "x-unix", "program failed", "command failed", "procmail"]),
        new("systemfull", ["insufficient system storage", "disk full", "system full", "out of disk"]),
        new("systemerror", ["system error", "local error", "internal error", "server error", "configuration error", "temporary failure",
            "try again later",
            "temporarily unavailable", "system is not", "service unavailable", "resources", "interner fehler", "erreur interne", "error interno",
            "внутренняя ошибка", "błąd systemu"]),
        new("notaccept", ["does not accept mail", "null mx", "not accept", "accepts no mail"]),
        new("syntaxerror", ["syntax error", "command unrecognized", "command not recognized"]),
        // Postfix's prefix with no explanation after it: the address itself was refused.
        new("userunknown", ["recipient address rejected", "address rejected"]),
    ]);

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

    private static readonly FrozenSet<string> MoreSpecificThanCode = new[] { "mailboxfull", "hasmoved", "norelaying", "suspend" }.ToFrozenSet(StringComparer.Ordinal);

    private static string? FromWords(string text, IReadOnlySet<string>? only) => Wordings.Match(WithoutReplyCodes(text), only);

    // A multi-line reply repeats its codes on every line ("550-5.7.1 Messages with multiple\n550 5.7.1 addresses in From:"),
    // which would split the phrase; the codes are read separately, so the words are matched without them.
    [GeneratedRegex(@"(?<![\w.])[245]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3}\s+)?", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex ReplyCodePrefix();

    private static string WithoutReplyCodes(string text) => Whitespace().Replace(ReplyCodePrefix().Replace(text, " "), " ");

    [GeneratedRegex(@"\s+", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex Whitespace();

    /// <summary>Codes whose meaning no wording changes (RFC 3463, RFC 4954, RFC 7372, RFC 7505 and the IANA registry of
    /// enhanced status codes).</summary>
    // Not here although RFCs give them one meaning, because large providers use them for another: x.1.10 (RFC 7505's
    // null MX; Microsoft's "RecipientNotFound") and x.7.9 (RFC 4954's weak mechanism; Yahoo's "not accepted for policy
    // reasons"). They are in the fallback table, after the words.
    private static readonly StatusTable Unambiguous = new(new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["1.1"] = UserUnknown,            // bad destination mailbox address
        ["1.2"] = HostUnknown,            // bad destination system address
        ["1.6"] = "hasmoved",             // destination mailbox has moved, no forwarding address
        ["1.7"] = "rejected",             // bad sender's mailbox address syntax
        ["1.8"] = "rejected",             // bad sender's system address
        ["2.0"] = "filtered",
        ["2.1"] = "filtered",             // mailbox disabled, not accepting messages
        ["2.2"] = MailboxFull,            // mailbox full
        ["2.3"] = "exceedlimit",          // message length exceeds administrative limit
        ["3.2"] = "notaccept",            // system not accepting network messages
        ["3.4"] = "mesgtoobig",           // message too big for system
        ["4.7"] = Expired,                // delivery time expired
        ["7.8"] = "securityerror",        // authentication credentials invalid (RFC 4954)
        ["7.10"] = "securityerror",       // encryption needed
        ["7.11"] = "securityerror",       // encryption required for requested authentication mechanism
        ["7.16"] = "mesgtoobig",          // message is too big for the specified priority
        ["7.17"] = "hasmoved",            // mailbox owner has changed
        ["7.18"] = "hasmoved",            // domain owner has changed
        ["7.20"] = "authfailure",         // RFC 7372: no passing DKIM signature ... DMARC, SPF
        ["7.21"] = "authfailure",
        ["7.22"] = "authfailure",
        ["7.23"] = "authfailure",
        ["7.24"] = "authfailure",
        ["7.25"] = "requireptr",          // RFC 7372: reverse DNS validation failed
        ["7.26"] = "authfailure",         // multiple authentication checks failed
    });

    /// <summary>What a status code means when the words did not tell.</summary>
    private static readonly StatusTable Fallback = new(new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["1.0"] = UserUnknown, ["1.3"] = UserUnknown, ["1.4"] = UserUnknown, ["1.5"] = UserUnknown,
        ["1.7"] = "rejected", ["1.8"] = "rejected", ["1.10"] = "notaccept",
        ["2.0"] = "filtered", ["2.1"] = "suspend", ["2.4"] = "filtered",
        ["3.0"] = "systemerror", ["3.5"] = "systemerror", ["3.1"] = "systemfull", ["3.2"] = "notaccept",
        ["4.0"] = "networkerror", ["4.1"] = "networkerror", ["4.2"] = "networkerror", ["4.6"] = "networkerror",
        ["4.3"] = "systemerror", ["4.4"] = HostUnknown, ["4.5"] = "toomanyconn",
        ["5.0"] = "syntaxerror", ["5.1"] = "syntaxerror", ["5.2"] = "syntaxerror", ["5.4"] = "syntaxerror", ["5.5"] = "syntaxerror",
        ["5.3"] = "exceedlimit",
        ["6.0"] = "contenterror", ["6.1"] = "contenterror", ["6.2"] = "contenterror", ["6.3"] = "contenterror", ["6.4"] = "contenterror",
        ["6.5"] = "contenterror",
        ["7.0"] = "rejected", ["7.1"] = "rejected",
        ["7.6"] = "securityerror", ["7.7"] = "securityerror", ["7.9"] = "securityerror", ["7.12"] = "securityerror", ["7.14"] = "securityerror",
        ["7.13"] = "suspend",             // user account disabled
        ["7.27"] = "notaccept",           // sender address has null MX (RFC 7505)
        ["7.28"] = "ratelimited",         // mail flood detected
    });

    private static string? FromUnambiguousStatus(string? status) => Unambiguous.Match(status);

    private static string? FromStatus(string? status) => Fallback.Match(status);
}
