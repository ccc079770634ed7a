using System.Security.Cryptography;
using System.Text;

namespace ManycoreMail.Roles.MxServer;

/// <summary>What reversing an address gave.</summary>
internal enum SrsReversalStatus
{
    /// <summary>Not an SRS address of ours (no SRS0/SRS1 tag, or another domain).</summary>
    NotSrs,
    /// <summary>Tagged as SRS but not of the right shape.</summary>
    Malformed,
    /// <summary>The hash does not match any of our secrets: forged, or made with a retired secret.</summary>
    BadHash,
    /// <summary>Older than the maximum age (bounces come back within days; older ones are replays).</summary>
    Expired,
    Valid,
}

/// <summary>The outcome of <see cref="SrsRewriter.Reverse"/>; <see cref="Address"/> is set when valid.</summary>
internal readonly record struct SrsReversal(SrsReversalStatus Status, string? Address = null)
{
    public bool IsValid => Status == SrsReversalStatus.Valid;
}

/// <summary>
/// The Sender Rewriting Scheme as Shevek's specification and its reference implementations (Mail::SRS "Guarded",
/// libsrs2) define it, so a forwarded mail's envelope sender is in our domain and SPF passes:
/// <c>SRS0=HHH=TT=orig-domain=orig-local@our-domain</c>, where TT is the day number (days since the Unix epoch)
/// modulo 1024 in two base32 characters and HHH the first characters of the base64 HMAC-SHA1, keyed with our
/// secret, of the lowercased TT, domain and local part. A sender that is itself an SRS0 address of another
/// forwarder becomes <c>SRS1=HHH=their-domain==HHH=TT=domain=local@our-domain</c> (hash over their domain and
/// the rest), which keeps addresses from growing on every hop. Reversal checks the hash against every
/// configured secret (the first signs; the others allow rotation) ignoring case, since some MTAs fold case,
/// and the age.
/// </summary>
internal sealed class SrsRewriter
{
    private const string Base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    private const int TimestampCycle = 1024; // two base32 characters
    private const char Separator = '=';

    private readonly byte[][] _secrets;
    private readonly int _hashLength;
    private readonly int _maxAgeDays;

    /// <param name="secrets">HMAC keys; the first signs new addresses, all verify.</param>
    /// <param name="domain">Our domain in rewritten addresses: its MX must be us, its SPF must allow our senders.</param>
    /// <param name="hashLength">Base64 characters of the hash kept (the specification's default is 4).</param>
    /// <param name="maxAge">How long a rewritten address is honoured.</param>
    public SrsRewriter(IReadOnlyList<string> secrets, string domain, int hashLength = 6, TimeSpan? maxAge = null)
    {
        if (secrets.Count == 0 || secrets.Any(string.IsNullOrEmpty))
        {
            throw new ArgumentException("At least one non-empty SRS secret is required.", nameof(secrets));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(hashLength, 4);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(hashLength, 27);
        _secrets = secrets.Select(Encoding.UTF8.GetBytes).ToArray();
        Domain = domain.ToLowerInvariant();
        _hashLength = hashLength;
        _maxAgeDays = (int)Math.Clamp((maxAge ?? TimeSpan.FromDays(21)).TotalDays, 1, TimestampCycle - 1);
    }

    public string Domain { get; }

    /// <summary>Rewrites an envelope sender for forwarding. The null sender stays null (a bounce must never get a
    /// return path), and an address without a domain is kept as it is (there is nothing SPF could check).</summary>
    public string Forward(string sender, DateTimeOffset now)
    {
        var at = sender.LastIndexOf('@');
        if (sender.Length == 0 || at <= 0 || at == sender.Length - 1)
        {
            return sender;
        }
        var local = sender[..at];
        var domain = sender[(at + 1)..];
        if (HasTag(local, "SRS0"))
        {
            // Someone else's SRS0: point back at that forwarder, not at the original sender.
            var rest = local[4..]; // keeps its separator, hence the "==" of SRS1
            return $"SRS1{Separator}{Hash(domain, rest)}{Separator}{domain}{Separator}{rest}@{Domain}";
        }
        if (HasTag(local, "SRS1"))
        {
            // Already SRS1: keep the first forwarder's domain and reference, re-hashed with our key.
            var parts = local[5..].Split(Separator, 3);
            if (parts.Length == 3)
            {
                return $"SRS1{Separator}{Hash(parts[1], parts[2])}{Separator}{parts[1]}{Separator}{parts[2]}@{Domain}";
            }
        }
        var timestamp = Timestamp(now);
        return $"SRS0{Separator}{Hash(timestamp, domain, local)}{Separator}{timestamp}{Separator}{domain}{Separator}{local}@{Domain}";
    }

    /// <summary>Reverses one of our SRS addresses to where the bounce must go: the original sender for SRS0, the
    /// previous forwarder's SRS0 address for SRS1.</summary>
    public SrsReversal Reverse(string address, DateTimeOffset now)
    {
        var at = address.LastIndexOf('@');
        if (at <= 0 || !address.AsSpan(at + 1).Equals(Domain, StringComparison.OrdinalIgnoreCase))
        {
            return new(SrsReversalStatus.NotSrs);
        }
        var local = address[..at];
        if (HasTag(local, "SRS0"))
        {
            var parts = local[5..].Split(Separator, 4);
            if (parts.Length != 4 || parts[1].Length != 2 || parts[2].Length == 0 || parts[3].Length == 0)
            {
                return new(SrsReversalStatus.Malformed);
            }
            if (!HashMatches(parts[0], parts[1], parts[2], parts[3]))
            {
                return new(SrsReversalStatus.BadHash);
            }
            if (!IsFresh(parts[1], now))
            {
                return new(SrsReversalStatus.Expired);
            }
            return new(SrsReversalStatus.Valid, parts[3] + "@" + parts[2]);
        }
        if (HasTag(local, "SRS1"))
        {
            var parts = local[5..].Split(Separator, 3);
            if (parts.Length != 3 || parts[1].Length == 0 || parts[2].Length < 2)
            {
                return new(SrsReversalStatus.Malformed);
            }
            if (!HashMatches(parts[0], parts[1], parts[2]))
            {
                return new(SrsReversalStatus.BadHash);
            }
            // The age is the first forwarder's to check: its timestamp is inside the opaque rest.
            return new(SrsReversalStatus.Valid, "SRS0" + parts[2] + "@" + parts[1]);
        }
        return new(SrsReversalStatus.NotSrs);
    }

    /// <summary>True when the local part carries an SRS tag (SRS0 or SRS1, any case, any of the spec's separators).</summary>
    public static bool IsTagged(string localPart) => HasTag(localPart, "SRS0") || HasTag(localPart, "SRS1");

    private static bool HasTag(string local, string tag) =>
        local.Length > tag.Length + 1
        && local.StartsWith(tag, StringComparison.OrdinalIgnoreCase)
        && local[tag.Length] is '=' or '+' or '-';

    /// <summary>Today's day number modulo 1024 in two base32 characters.</summary>
    internal static string Timestamp(DateTimeOffset now)
    {
        var day = (int)(now.ToUnixTimeSeconds() / 86400 % TimestampCycle);
        return string.Create(2, day, (chars, d) =>
        {
            chars[0] = Base32[d >> 5];
            chars[1] = Base32[d & 31];
        });
    }

    private bool IsFresh(string timestamp, DateTimeOffset now)
    {
        var high = Base32.IndexOf(char.ToUpperInvariant(timestamp[0]));
        var low = Base32.IndexOf(char.ToUpperInvariant(timestamp[1]));
        if (high < 0 || low < 0)
        {
            return false;
        }
        var then = (high << 5) | low;
        var today = (int)(now.ToUnixTimeSeconds() / 86400 % TimestampCycle);
        // The day number wraps every 1024 days: an address from "the future" is from the previous cycle.
        var age = (today - then + TimestampCycle) % TimestampCycle;
        return age <= _maxAgeDays;
    }

    private string Hash(params ReadOnlySpan<string> parts) => Hash(_secrets[0], parts);

    private string Hash(byte[] secret, ReadOnlySpan<string> parts)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA1, secret);
        foreach (var part in parts)
        {
            hmac.AppendData(Encoding.UTF8.GetBytes(part.ToLowerInvariant()));
        }
        return Convert.ToBase64String(hmac.GetHashAndReset())[.._hashLength];
    }

    private bool HashMatches(string hash, params ReadOnlySpan<string> parts)
    {
        if (hash.Length != _hashLength)
        {
            return false;
        }
        var matched = false;
        foreach (var secret in _secrets)
        {
            // Case-insensitive (some MTAs fold local parts) and in constant time: the comparison must not tell
            // a forger how many leading characters were right.
            var expected = Encoding.ASCII.GetBytes(Hash(secret, parts).ToUpperInvariant());
            var actual = Encoding.ASCII.GetBytes(hash.ToUpperInvariant());
            matched |= CryptographicOperations.FixedTimeEquals(expected, actual);
        }
        return matched;
    }
}
