using System.Security.Cryptography.X509Certificates;
using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.Smtp.Server;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Receiver;

/// <summary>SMTP submission (the original Receiver): STARTTLS, AUTH PLAIN/LOGIN only after TLS, and MAIL
/// only after AUTH unless the client is in a trusted network.</summary>
internal static class ReceiverRole
{
    public static SmtpListenerRole Create(ReceiverOptions options, string serverName, X509Certificate2 certificate,
        SubmissionHandler handler, ILoggerFactory loggers) =>
        new(RoleNames.Receiver,
            new SmtpServerOptions
            {
                ServerName = serverName,
                CertificateProvider = () => certificate,
                AuthEnabled = true,
                AuthRequiresTls = true,
                RequireAuthentication = true,
                TrustedNetworks = options.TrustedNetworks,
                MaxMessageSize = options.MaxMessageSize,
            },
            options.Bind, handler, loggers.CreateLogger("ManycoreMail.Receiver"));
}
