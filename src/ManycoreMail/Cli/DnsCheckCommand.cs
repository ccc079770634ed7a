using System.CommandLine;
using System.Net;
using ManycoreMail.Config;
using ManycoreMail.Dns;
using ManycoreMail.Dns.Spf;

namespace ManycoreMail.Cli;

/// <summary><c>mailer dns check [DOMAIN...]</c>: checks each sending domain's records through <c>sender/dns-servers</c>,
/// prints a table, and exits 0 only when every check is OK (1 otherwise, 2 for bad configuration or arguments).</summary>
internal static class DnsCheckCommand
{
    public static Command Build(Func<Command, Func<ParseResult, MailerOptions>> addConfig)
    {
        var dns = new Command("dns", "The DNS records the sending domains need.");
        var check = new Command("check", "Check DKIM, SPF, DMARC, the return-path MX and the sending addresses' PTR of each sending domain, and the SRS domain's SPF and MX; print what to fix.");
        var domains = new Argument<string[]>("DOMAIN") { Arity = ArgumentArity.ZeroOrMore, Description = "Sending domains (default: every one in transformer/domain-settings)" };
        check.Arguments.Add(domains);
        var config = addConfig(check);
        check.SetAction(async (parse, ct) =>
        {
            MailerOptions options;
            try
            {
                options = config(parse);
            }
            catch (ConfigException e)
            {
                await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return 2;
            }
            return await RunAsync(options, parse.GetValue(domains) ?? [], Console.Out, Console.Error, ct).ConfigureAwait(false);
        });
        dns.Subcommands.Add(check);
        return dns;
    }

    public static async Task<int> RunAsync(MailerOptions options, IReadOnlyList<string> domains, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var configured = options.Transformer?.Domains ?? [];
        var extra = options.MxServer?.ExtraDomains ?? [];
        var srsDomain = options.MxServer?.Forwarding?.SrsDomain;
        var unknown = domains.Where(d => !configured.Any(c => string.Equals(c.Domain, d.TrimEnd('.'), StringComparison.OrdinalIgnoreCase))
            && !extra.Contains(d.TrimEnd('.'), StringComparer.OrdinalIgnoreCase)
            && !string.Equals(srsDomain, d.TrimEnd('.'), StringComparison.OrdinalIgnoreCase)).ToArray();
        if (unknown.Length > 0 || configured.Count == 0)
        {
            await error.WriteLineAsync(configured.Count == 0
                ? "transformer/domain-settings: no sending domain is configured; add one (mailer dkim keygen DOMAIN makes its key)."
                : $"DOMAIN: {string.Join(", ", unknown)} not in transformer/domain-settings, mxserver/domains or mxserver/forwarding/srs-domain (configured: {string.Join(", ", configured.Select(c => c.Domain).Concat(extra).Concat(srsDomain is null ? [] : [srsDomain]))}).").ConfigureAwait(false);
            return 2;
        }
        var chosen = domains.Count == 0 ? configured : configured.Where(c => domains.Any(d => string.Equals(c.Domain, d.TrimEnd('.'), StringComparison.OrdinalIgnoreCase))).ToArray();
        // An extra domain that is also a return-path domain already gets its MX row.
        var extraMx = extra.Where(e => domains.Count == 0 || domains.Any(d => string.Equals(e, d.TrimEnd('.'), StringComparison.OrdinalIgnoreCase)))
            .Where(e => !chosen.Any(c => string.Equals(c.ReturnPathDomain, e, StringComparison.OrdinalIgnoreCase)))
            .ToArray();

        DnsResolverOptions resolverOptions;
        try
        {
            resolverOptions = options.Sender.DnsServers is { } servers ? DnsResolverOptions.FromServers(servers) : DnsResolverOptions.FromResolvConf();
        }
        catch (Exception e) when (e is FormatException or ArgumentException or IOException)
        {
            await error.WriteLineAsync($"sender/dns-servers: {e.Message}").ConfigureAwait(false);
            return 2;
        }
        using var resolver = new DnsResolver(resolverOptions);
        var mxAddress = options.MxServer?.Bind.Address is { } bind && !bind.Equals(IPAddress.Any) && !bind.Equals(IPAddress.IPv6Any) ? bind : null;
        // An SRS domain that is also a chosen return-path domain already has its SPF and MX rows.
        var checkSrs = srsDomain is not null
            && (domains.Count == 0 || domains.Any(d => string.Equals(srsDomain, d.TrimEnd('.'), StringComparison.OrdinalIgnoreCase)))
            && !chosen.Any(c => string.Equals(c.ReturnPathDomain, srsDomain, StringComparison.OrdinalIgnoreCase));
        var setup = new DnsCheckSetup(chosen, options.Sender.HeloName, DnsCheckSetup.IdentitiesOf(options), extraMx, mxAddress, checkSrs ? srsDomain : null);
        var rows = await new DnsChecker(resolver, new SpfEvaluator(resolver)).CheckAsync(setup, cancellationToken).ConfigureAwait(false);
        await output.WriteAsync(DnsCheckTable.Format(rows)).ConfigureAwait(false);
        return rows.All(r => r.Status == DnsCheckStatus.Ok) ? 0 : 1;
    }
}
