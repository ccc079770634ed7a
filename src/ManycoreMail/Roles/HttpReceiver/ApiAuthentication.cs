using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using ManycoreMail.Config;
using ManycoreMail.Ingress;
using ManycoreMail.Smtp.Server;
using Microsoft.AspNetCore.Http;

namespace ManycoreMail.Roles.HttpReceiver;

/// <summary>
/// The HTTP API's Basic auth, shared by every endpoint on its port: one throttle, so that failures against any
/// endpoint count towards the same lock-out.
/// </summary>
internal sealed class ApiAuthentication(IReadOnlyList<Credential> logins, IAuthenticationThrottle throttle)
{
    private readonly LoginCheck _logins = new(logins);

    private enum Credentials : byte
    {
        Missing,
        Wrong,
        Valid,
    }

    /// <summary>Null when the request carries valid credentials; otherwise the answer to give (401 or 429).</summary>
    public IResult? Refuse(HttpContext context) => Refuse(context, out _);

    /// <summary>The same, and the login the credentials are (null when refused).</summary>
    public IResult? Refuse(HttpContext context, out Credential? login)
    {
        login = null;
        var client = context.Connection.RemoteIpAddress ?? IPAddress.None;
        if (throttle.CheckAttempt(client) is { } wait)
        {
            // Refused unchecked, as the SMTP receiver does: checking would let the guessing go on.
            var seconds = (long)Math.Ceiling(wait.TotalSeconds);
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            return Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too Many Requests",
                detail: $"too many failed logins from your address; try again in {seconds} seconds");
        }
        var credentials = Check(context.Request.Headers.Authorization.ToString(), out login);
        if (credentials == Credentials.Valid)
        {
            return null;
        }
        if (credentials == Credentials.Wrong)
        {
            throttle.RecordFailure(client);
        }
        context.Response.Headers.WWWAuthenticate = "Basic realm=\"manycore-mail\", charset=\"UTF-8\"";
        return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized", detail: "Valid HTTP Basic credentials are required.");
    }

    private Credentials Check(string header, out Credential? login)
    {
        login = null;
        if (header.Length == 0)
        {
            return Credentials.Missing;
        }
        if (!AuthenticationHeaderValue.TryParse(header, out var value)
            || !"Basic".Equals(value.Scheme, StringComparison.OrdinalIgnoreCase)
            || value.Parameter is null)
        {
            return Credentials.Wrong;
        }
        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(value.Parameter));
        }
        catch (FormatException)
        {
            return Credentials.Wrong;
        }
        var colon = decoded.IndexOf(':');
        if (colon < 0)
        {
            return Credentials.Wrong;
        }
        login = _logins.Find(decoded[..colon], decoded[(colon + 1)..]);
        return login is not null ? Credentials.Valid : Credentials.Wrong;
    }
}
