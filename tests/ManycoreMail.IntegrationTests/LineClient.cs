using System.Net.Sockets;
using System.Text;

namespace ManycoreMail.IntegrationTests;

/// <summary>A raw SMTP client for tests that look at each reply: lines in, replies (multi-line ones to their last
/// line) out, each read bounded by <see cref="Deadline"/>.</summary>
internal sealed class LineClient(TcpClient tcp) : IDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private readonly StreamReader _reader = new(tcp.GetStream(), Encoding.Latin1, false, 1, leaveOpen: true);

    public NetworkStream Stream => tcp.GetStream();

    /// <summary>Connected to <paramref name="endPoint"/>, from <paramref name="from"/> when given.</summary>
    public static async Task<LineClient> ConnectAsync(System.Net.IPEndPoint endPoint, System.Net.IPAddress? from = null)
    {
        var tcp = from is null ? new TcpClient() : new TcpClient(new System.Net.IPEndPoint(from, 0));
        try
        {
            await tcp.ConnectAsync(endPoint);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
        return new LineClient(tcp);
    }

    public Task WriteAsync(string text) => Stream.WriteAsync(Encoding.Latin1.GetBytes(text)).AsTask();

    public async Task<string?> ReadLineAsync()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        try
        {
            return await _reader.ReadLineAsync(timeout.Token);
        }
        catch (IOException)
        {
            return null;
        }
    }

    public async Task<string?> ReadReplyAsync()
    {
        // Bounded by the server: a reply ends at a line without a dash, or the connection closes.
        while (true)
        {
            var line = await ReadLineAsync();
            if (line is null || line.Length < 4 || line[3] != '-')
            {
                return line;
            }
        }
    }

    public void Dispose()
    {
        _reader.Dispose();
        tcp.Dispose();
    }
}
