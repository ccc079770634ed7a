using System.Security.Cryptography;
using System.Text;
using ManycoreMail.Config;

namespace ManycoreMail.Ingress;

/// <summary>Checks a user and password against the configured logins (SMTP AUTH and HTTP Basic alike).</summary>
internal sealed class LoginCheck(IReadOnlyList<Credential> logins)
{
    /// <summary>Every entry is compared, each in constant time, so the time taken tells nothing about which
    /// part of which login was wrong.</summary>
    public bool Matches(string user, string password) => Find(user, password) is not null;

    /// <summary>The login these credentials are, or null; compared as <see cref="Matches"/>.</summary>
    public Credential? Find(string user, string password)
    {
        Credential? found = null;
        foreach (var login in logins)
        {
            if (FixedTimeEquals(login.Username, user) & FixedTimeEquals(login.Password, password))
            {
                found ??= login;
            }
        }
        return found;
    }

    /// <summary>The tenant of the login named <paramref name="user"/>, for a session that has already authenticated as it
    /// (usernames are unique); null when the login has none or there is no such login.</summary>
    public string? TenantOf(string? user) =>
        user is null ? null : logins.FirstOrDefault(l => string.Equals(l.Username, user, StringComparison.Ordinal))?.Tenant;

    private static bool FixedTimeEquals(string expected, string actual) =>
        CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(expected)),
            SHA256.HashData(Encoding.UTF8.GetBytes(actual)));
}
