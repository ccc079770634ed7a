using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace ManycoreMail.Smtp.Tests.Support;

/// <summary>A byte-level SMTP peer for conformance tests: sends exactly what it is told and reads reply lines.</summary>
public sealed class RawSmtpClient : IAsyncDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(20);
    private readonly Socket _socket;
    private readonly List<byte> _pending = [];
    private Stream _stream;

    private RawSmtpClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
    }

    public static async Task<RawSmtpClient> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint);
        return new RawSmtpClient(socket);
    }

    public Task SendAsync(string text) => SendAsync(Encoding.Latin1.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Sends one command line and returns the reply's lines.</summary>
    public async Task<string[]> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadReplyAsync();
    }

    /// <summary>Sends one command line and returns the last line of its reply.</summary>
    public async Task<string> CommandLastLineAsync(string line) => (await CommandAsync(line))[^1];

    public async Task<string[]> ReadReplyAsync()
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync() ?? throw new IOException("Connection closed in the middle of a reply: " + string.Join(" | ", lines));
            lines.Add(line);
            if (line.Length < 4 || line[3] != '-')
            {
                return [.. lines];
            }
        }
    }

    /// <summary>Reads one CRLF-terminated line; null when the server closed the connection.</summary>
    public async Task<string?> ReadLineAsync()
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        var buffer = new byte[4096];
        while (true)
        {
            for (var i = 1; i < _pending.Count; i++)
            {
                if (_pending[i - 1] == '\r' && _pending[i] == '\n')
                {
                    var line = Encoding.Latin1.GetString([.. _pending.GetRange(0, i - 1)]);
                    _pending.RemoveRange(0, i + 1);
                    return line;
                }
            }

            int read;
            try
            {
                read = await _stream.ReadAsync(buffer, timeout.Token);
            }
            catch (IOException)
            {
                return null;
            }

            if (read == 0)
            {
                return null;
            }

            _pending.AddRange(buffer.AsSpan(0, read));
        }
    }

    /// <summary>True when the server closes the connection (after any remaining lines).</summary>
    public async Task<bool> WaitForCloseAsync()
    {
        while (await ReadLineAsync() is not null)
        {
        }

        return true;
    }

    /// <summary>Sends STARTTLS (with <paramref name="injected"/> in the same write) and handshakes on 220.</summary>
    public async Task<string> StartTlsAsync(string injected = "")
    {
        await SendAsync("STARTTLS\r\n" + injected);
        var reply = (await ReadReplyAsync())[^1];
        if (!reply.StartsWith("220", StringComparison.Ordinal))
        {
            return reply;
        }

        _pending.Clear();
        var tls = new SslStream(_stream, leaveInnerStreamOpen: false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" });
        _stream = tls;
        return reply;
    }

    public bool IsTls => _stream is SslStream;

    public void ShutdownSend() => _socket.Shutdown(SocketShutdown.Send);

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}
