using ManycoreMail.Config;
using ManycoreMail.Dkim;
using ManycoreMail.Dns;
using ManycoreMail.Dns.Spf;
using ManycoreMail.Events;
using ManycoreMail.Inbound;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Roles.InboundDelivery;
using ManycoreMail.Roles.MxServer;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>The two halves of <c>mxserver/inbound-routes</c> in the MX server's process: what the MX server's handler
/// uses to queue routed mail, and the worker that posts it (run beside the MX server, on the same queue store).</summary>
internal sealed record InboundWiring(InboundAcceptor Acceptor, InboundDeliveryRole Worker, DnsResolver Resolver) : IDisposable
{
    /// <summary>Null when no route is configured: then the MX server behaves as before.</summary>
    public static InboundWiring? Create(MailerOptions options, IQueueStore store, EventQueue events, MetricsRegistry metrics,
        TimeProvider time, ILoggerFactory loggers)
    {
        var mx = options.MxServer!;
        if (mx.InboundRoutes.Count == 0)
        {
            return null;
        }
        var routes = new InboundRouteTable(mx.InboundRoutes);
        // SPF and DKIM ask the same resolvers as the sender's deliveries.
        var resolver = new DnsResolver(options.Sender.DnsServers is { } servers ? DnsResolverOptions.FromServers(servers) : DnsResolverOptions.FromResolvConf(), time);
        var acceptor = new InboundAcceptor(routes, store, options.Queues.Inbound, new SpfEvaluator(resolver), options.Sender.HeloName,
            metrics, time, loggers.CreateLogger<InboundAcceptor>());
        var worker = new InboundDeliveryRole(store, options.Queues.Inbound, options.Queues.Outbound, routes,
            new InboundDeliveryOptions(options.Sender.HeloName, options.Sender.MaxQueueLifetime)
            {
                FirstRetry = mx.InboundFirstRetry,
                MaxRetry = mx.InboundMaxRetry,
            },
            new DnsDkimKeyResolver(resolver), events, metrics, time, loggers.CreateLogger<InboundDeliveryRole>());
        return new InboundWiring(acceptor, worker, resolver);
    }

    public void Dispose()
    {
        Worker.Dispose();
        Resolver.Dispose();
    }
}
