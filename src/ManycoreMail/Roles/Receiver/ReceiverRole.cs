using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.Ingress;
using ManycoreMail.Smtp.Server;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Receiver;

/// <summary>SMTP submission (the original Receiver): STARTTLS, AUTH PLAIN/LOGIN only after TLS, and MAIL
/// only after AUTH unless the client is in a trusted network. Failed logins are throttled per client across
/// sessions, together with those of the HTTP receiver. While the queues behind it are long, <paramref name="inFlow"/> holds
/// each new message before its content is read.</summary>
internal static class ReceiverRole
{
    public static SmtpListenerRole Create(ReceiverOptions options, string serverName, ReloadingCertificate certificate,
        SubmissionHandler handler, LoginThrottle throttle, IInFlowControl? inFlow, ILoggerFactory loggers) =>
        new(RoleNames.Receiver,
            SmtpListenerRole.Apply(
                new SmtpServerOptions
                {
                    ServerName = serverName,
                    CertificateProvider = certificate.Current,
                    AuthEnabled = true,
                    AuthRequiresTls = true,
                    RequireAuthentication = true,
                    TrustedNetworks = options.TrustedNetworks,
                    MaxMessageSize = options.MaxMessageSize,
                    AuthThrottle = throttle,
                    InFlow = inFlow,
                },
                options.Listener),
            options.Bind, handler, loggers.CreateLogger("ManycoreMail.Receiver"));
}
