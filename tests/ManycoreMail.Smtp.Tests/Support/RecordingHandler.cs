using System.Buffers;
using System.Collections.Concurrent;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Server;

namespace ManycoreMail.Smtp.Tests.Support;

public sealed record ReceivedMessage(SmtpEnvelope Envelope, byte[] Body, bool IsTls, string? AuthenticatedUser, string? HeloName);

/// <summary>An <see cref="ISmtpHandler"/> that records what it is asked and answers as configured.</summary>
public sealed class RecordingHandler : ISmtpHandler
{
    private readonly SemaphoreSlim _messageArrived = new(0);

    public ConcurrentQueue<ReceivedMessage> Messages { get; } = new();
    public ConcurrentQueue<string> ReversePaths { get; } = new();
    public ConcurrentQueue<string> Recipients { get; } = new();
    public ConcurrentQueue<System.Net.IPAddress> RemoteAddresses { get; } = new();

    public Func<string, SmtpReply> OnMailFrom { get; set; } = _ => SmtpReply.Ok("Sender OK");
    public Func<string, SmtpReply> OnRcptTo { get; set; } = _ => SmtpReply.Ok("Recipient OK");
    public Func<SmtpEnvelope, byte[], SmtpReply> OnMessage { get; set; } = (_, _) => new SmtpReply(250, "2.0.0", "Queued");
    public Func<string, string, bool> Credentials { get; set; } = (user, password) => user == "user" && password == "secret";

    public ValueTask<bool> AuthenticateAsync(SmtpSessionInfo session, string user, string password, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Credentials(user, password));

    public ValueTask<SmtpReply> MailFromAsync(SmtpSessionInfo session, string reversePath, CancellationToken cancellationToken)
    {
        ReversePaths.Enqueue(reversePath);
        RemoteAddresses.Enqueue(session.RemoteEndPoint.Address);
        return ValueTask.FromResult(OnMailFrom(reversePath));
    }

    public ValueTask<SmtpReply> RcptToAsync(SmtpSessionInfo session, string reversePath, string forwardPath, CancellationToken cancellationToken)
    {
        Recipients.Enqueue(forwardPath);
        return ValueTask.FromResult(OnRcptTo(forwardPath));
    }

    public async ValueTask<SmtpReply> MessageAsync(SmtpSessionInfo session, SmtpEnvelope envelope, ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        // Yield so the server really has to keep the buffers alive across an await.
        await Task.Yield();
        var body = message.ToArray();
        try
        {
            var reply = OnMessage(envelope, body);
            if (reply.IsPositive)
            {
                Messages.Enqueue(new ReceivedMessage(envelope, body, session.IsTls, session.AuthenticatedUser, session.HeloName));
            }

            return reply;
        }
        finally
        {
            _messageArrived.Release();
        }
    }

    /// <summary>Waits until the handler was asked about one more message.</summary>
    public async Task WaitForMessageCallAsync(TimeSpan? timeout = null)
    {
        if (!await _messageArrived.WaitAsync(timeout ?? TimeSpan.FromSeconds(20)))
        {
            throw new TimeoutException("The handler was not asked about a message in time.");
        }
    }
}
