using ManycoreMail.Cli;

// Socket completions run on the epoll thread that saw them instead of being queued to the thread pool. Every
// message crosses four sockets (client, spool hand-offs aside, MX, DNS), and each hop to a pool thread cost a
// context switch: with this, the mailer spent 10–15% less CPU per message in bench/skeleton-throughput.sh.
// It is safe here because nothing that runs on a socket continuation blocks: parsing and header checks are
// microseconds, the spool and the signer run on their own threads, and every wait is awaited. The runtime
// reads the variable once, when the first socket is created, so this must come first. An operator can still
// set it to 0.
if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

return await MailerCli.Build().Parse(args).InvokeAsync().ConfigureAwait(false);
