using ManycoreMail.Cli;

// Socket completions run on the epoll thread that saw them instead of being queued to the thread pool. A message
// costs a dozen socket events (the client's commands, the MX's replies), and each hop to a pool thread cost a
// context switch: with this, the mailer spent about 10% less CPU per message in bench/skeleton-throughput.sh.
// It is safe because nothing that runs on a socket continuation blocks: parsing and header checks take
// microseconds, the spool and the signer run on their own threads, disk waits leave the socket's thread first
// (see EmlStore), and every other wait is awaited; test.sh runs the tests this way to keep it so. The runtime
// reads the variable once, when the first socket is created, so this must come first. An operator can still set
// it to 0.
if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

return await MailerCli.Build().Parse(args).InvokeAsync().ConfigureAwait(false);
