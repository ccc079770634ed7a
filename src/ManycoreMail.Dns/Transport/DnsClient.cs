using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using ManycoreMail.Dns.Wire;

namespace ManycoreMail.Dns.Transport;

/// <summary>A final answer and how long it may be served from cache (zero: not at all).</summary>
internal readonly record struct DnsAnswer<T>(DnsResult<T> Result, TimeSpan CacheFor);

/// <summary>Asks the configured servers one question: each server in order, <see cref="DnsResolverOptions.Attempts"/>
/// times, over UDP with a TCP retry when the answer is truncated.</summary>
internal sealed class DnsClient(DnsResolverOptions options)
{
    /// <summary>Well above the 1232 bytes we advertise; a server that sends more gets its answer cut and retried.</summary>
    private const int MaxUdpResponseLength = 4096;

    /// <summary>Stray datagrams (late answers to an earlier attempt, forgeries) tolerated before giving up early.</summary>
    private const int MaxIgnoredDatagrams = 32;

    private const int TcpLengthPrefix = 2;

    public async Task<DnsAnswer<T>> QueryAsync<T>(string name, DnsRecordType type, DnsRDataDecoder<T> decoder, CancellationToken cancellationToken)
    {
        foreach (var server in options.Servers)
        {
            for (var attempt = 0; attempt < options.Attempts; attempt++)
            {
                var response = await ExchangeAsync(server, name, type, decoder, useEdns: true, cancellationToken).ConfigureAwait(false);
                if (response?.ResponseCode is DnsResponseCode.FormatError or DnsResponseCode.NotImplemented)
                {
                    // A server from before EDNS0 (RFC 6891 §7) rejects the OPT record; ask it the plain way.
                    response = await ExchangeAsync(server, name, type, decoder, useEdns: false, cancellationToken).ConfigureAwait(false);
                }

                if (response is null)
                {
                    continue; // timeout, network error, unreadable answer: this server may do better next time
                }

                switch (response.ResponseCode)
                {
                    case DnsResponseCode.NoError when response.Records.Count > 0:
                        return new(new(DnsStatus.Ok, response.Records, response.IsAuthenticated), CacheTime(response.Ttl));
                    case DnsResponseCode.NoError:
                        return new(new(DnsStatus.NoData, [], response.IsAuthenticated), NegativeCacheTime(response.NegativeTtl));
                    case DnsResponseCode.NameError:
                        return new(new(DnsStatus.NxDomain, [], response.IsAuthenticated), NegativeCacheTime(response.NegativeTtl));
                }

                break; // SERVFAIL, REFUSED and the like: asking this server again right away will not help
            }
        }

        return new(new(DnsStatus.TemporaryFailure, []), TimeSpan.Zero);
    }

    private TimeSpan CacheTime(uint ttl) => TimeSpan.FromSeconds(Math.Min(ttl, options.MaxCacheTtl.TotalSeconds));

    /// <summary>RFC 2308 §5: without an SOA there is no negative TTL, and the answer is not cached.</summary>
    private TimeSpan NegativeCacheTime(uint? ttl) => ttl is { } seconds ? CacheTime(seconds) : TimeSpan.Zero;

    /// <summary>One attempt: null when it timed out, failed on the network or got an unreadable answer.</summary>
    private async Task<DnsResponse<T>?> ExchangeAsync<T>(IPEndPoint server, string name, DnsRecordType type, DnsRDataDecoder<T> decoder, bool useEdns, CancellationToken cancellationToken)
    {
        // A fresh unpredictable id (and source port, from a new socket) per attempt makes forged answers guesswork.
        var question = new DnsQuestion((ushort)RandomNumberGenerator.GetInt32(0x10000), name, type);
        var buffer = ArrayPool<byte>.Shared.Rent(TcpLengthPrefix + DnsQueryWriter.MaxQueryLength);
        try
        {
            var length = DnsQueryWriter.Write(buffer.AsSpan(TcpLengthPrefix), question.Id, name, type, useEdns);
            if (length < 0)
            {
                return null;
            }

            BinaryPrimitives.WriteUInt16BigEndian(buffer, (ushort)length);

            // Socket timeouts run on the wall clock, not the injected TimeProvider: a fake clock that nobody
            // advances would otherwise wait forever for a datagram that was lost.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.Timeout);
            try
            {
                var response = await ExchangeUdpAsync(server, buffer.AsMemory(TcpLengthPrefix, length), question, decoder, timeout.Token).ConfigureAwait(false);
                if (response is { IsTruncated: true })
                {
                    timeout.CancelAfter(options.Timeout);
                    response = await ExchangeTcpAsync(server, buffer.AsMemory(0, TcpLengthPrefix + length), question, decoder, timeout.Token).ConfigureAwait(false);
                }

                return response;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return null;
            }
            catch (SocketException)
            {
                return null;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task<DnsResponse<T>?> ExchangeUdpAsync<T>(IPEndPoint server, ReadOnlyMemory<byte> query, DnsQuestion question, DnsRDataDecoder<T> decoder, CancellationToken cancellationToken)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        // Connected, so the kernel drops datagrams from anyone but the server and reports ICMP unreachable.
        await socket.ConnectAsync(server, cancellationToken).ConfigureAwait(false);
        await socket.SendAsync(query, SocketFlags.None, cancellationToken).ConfigureAwait(false);

        var buffer = ArrayPool<byte>.Shared.Rent(MaxUdpResponseLength);
        try
        {
            for (var datagram = 0; datagram < MaxIgnoredDatagrams; datagram++)
            {
                var received = await socket.ReceiveAsync(buffer.AsMemory(0, MaxUdpResponseLength), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                switch (DnsResponseParser.Parse(buffer.AsSpan(0, received), question, decoder, out var response))
                {
                    case DnsParseStatus.Accepted:
                        return response;
                    case DnsParseStatus.Malformed:
                        return null;
                }
            }

            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>RFC 7766: the same query with a two-byte length prefix, one answer back with one.</summary>
    private static async Task<DnsResponse<T>?> ExchangeTcpAsync<T>(IPEndPoint server, ReadOnlyMemory<byte> framedQuery, DnsQuestion question, DnsRDataDecoder<T> decoder, CancellationToken cancellationToken)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server, cancellationToken).ConfigureAwait(false);
        await socket.SendAsync(framedQuery, SocketFlags.None, cancellationToken).ConfigureAwait(false);

        var prefix = new byte[TcpLengthPrefix];
        if (!await ReceiveExactlyAsync(socket, prefix, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(prefix);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max((int)length, 1));
        try
        {
            if (!await ReceiveExactlyAsync(socket, buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            // Over TCP nothing else shares the connection, so even a mismatch means the exchange failed.
            var status = DnsResponseParser.Parse(buffer.AsSpan(0, length), question, decoder, out var response);
            return status == DnsParseStatus.Accepted && response is { IsTruncated: false } ? response : null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>False when the server closes the connection early. Each pass reads at least one byte, so the loop
    /// runs at most <c>buffer.Length</c> times.</summary>
    private static async ValueTask<bool> ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var received = await socket.ReceiveAsync(buffer[filled..], SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (received == 0)
            {
                return false;
            }

            filled += received;
        }

        return true;
    }
}
