using ManycoreMail.Cli;

return await MailerCli.Build().Parse(args).InvokeAsync().ConfigureAwait(false);
