using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.Smtp.Server;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.MxServer;

/// <summary>The public MX: STARTTLS offered (the original had none), no AUTH, no relay.</summary>
internal static class MxServerRole
{
    public static SmtpListenerRole Create(MxServerOptions options, string serverName, ReloadingCertificate certificate,
        MxHandler handler, ILoggerFactory loggers) =>
        new(RoleNames.MxServer,
            SmtpListenerRole.Apply(
                new SmtpServerOptions
                {
                    ServerName = serverName,
                    CertificateProvider = certificate.Current,
                    AuthEnabled = false,
                    RequireAuthentication = false,
                    MaxMessageSize = options.MaxMessageSize,
                },
                options.Listener),
            options.Bind, handler, loggers.CreateLogger("ManycoreMail.MxServer"));
}
