using ManycoreMail.Queue.Redis;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Queue.Tests;

/// <summary>The RESP client against a real redis-server.</summary>
public sealed class RedisClientTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Commands_round_trip_binary_values()
    {
        await using var client = new RedisClient(redis.ClientOptions);
        var key = Key();
        var value = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();

        using (var set = RespRequest.Create(3).Add("SET"u8).Add(key).Add(value))
        {
            Assert.Equal("OK", (await client.ExecuteAsync(set, CancellationToken.None)).ToString());
        }
        using var get = RespRequest.Create(2).Add("GET"u8).Add(key);
        Assert.Equal(value, (await client.ExecuteAsync(get, CancellationToken.None)).Memory.ToArray());
        Assert.True((await client.ExecuteAsync(CancellationToken.None, "GET", Key())).IsNull);
    }

    [Fact]
    public async Task Error_replies_throw_and_leave_the_connection_usable()
    {
        await using var client = new RedisClient(redis.ClientOptions);

        var error = await Assert.ThrowsAsync<RedisServerException>(() => client.ExecuteAsync(CancellationToken.None, "NOSUCHCOMMAND"));
        Assert.Contains("unknown command", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("PONG", (await client.ExecuteAsync(CancellationToken.None, "PING")).ToString());
    }

    [Fact]
    public async Task Many_concurrent_callers_each_get_their_own_reply()
    {
        await using var client = new RedisClient(redis.ClientOptions);
        var prefix = Key();

        var results = await Task.WhenAll(Enumerable.Range(0, 2000).Select(async i =>
        {
            var key = $"{prefix}:{i}";
            await client.ExecuteAsync(CancellationToken.None, "SET", key, $"v{i}");
            return (await client.ExecuteAsync(CancellationToken.None, "GET", key)).ToString() == $"v{i}";
        })).WaitAsync(Deadline);

        Assert.All(results, Assert.True);
    }

    [Fact]
    public async Task A_cancelled_caller_does_not_shift_the_replies_of_the_others()
    {
        await using var client = new RedisClient(redis.ClientOptions with { SharedConnections = 1 });

        // A blocking pop sent on the shared connection holds every later reply back, so the cancelled
        // command's reply is still owed when its caller gives up.
        using var cancel = new CancellationTokenSource();
        var holding = client.ExecuteAsync(cancel.Token, "BLPOP", Key(), "0.3");
        var cancelled = client.ExecuteAsync(cancel.Token, "ECHO", "cancelled");
        var after = client.ExecuteAsync(CancellationToken.None, "ECHO", "after");
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => holding);
        Assert.Equal("after", (await after.WaitAsync(Deadline)).ToString());
        Assert.Equal("next", (await client.ExecuteAsync(CancellationToken.None, "ECHO", "next")).ToString());
    }

    [Fact]
    public async Task Ordinary_commands_are_spread_over_the_shared_connections()
    {
        var name = "spread-" + Guid.NewGuid().ToString("N")[..8];
        await using var client = new RedisClient(redis.ClientOptions with { SharedConnections = 3, ClientName = name });
        await client.ConnectAsync(CancellationToken.None);
        var clients = (await client.ExecuteAsync(CancellationToken.None, "CLIENT", "LIST")).ToString() ?? "";
        Assert.Equal(3, clients.Split('\n').Count(line => line.Contains($" name={name} ", StringComparison.Ordinal)));

        // A command that holds back the replies of its connection does not hold up the others.
        var key = Key();
        var holding = client.ExecuteAsync(CancellationToken.None, "BLPOP", key, "10");
        Assert.Equal("PONG", (await client.ExecuteAsync(CancellationToken.None, "PING").WaitAsync(Deadline)).ToString());
        Assert.False(holding.IsCompleted);
        await client.ExecuteAsync(CancellationToken.None, "RPUSH", key, "x");
        Assert.Equal("x", (await holding.WaitAsync(Deadline))[1].ToString());
    }

    [Fact]
    public async Task A_request_cancelled_before_sending_is_not_executed()
    {
        await using var client = new RedisClient(redis.ClientOptions);
        var key = Key();
        using var cancel = new CancellationTokenSource();
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.ExecuteAsync(cancel.Token, "SET", key, "x"));
        Assert.True((await client.ExecuteAsync(CancellationToken.None, "GET", key)).IsNull);
    }

    [Fact]
    public async Task Blocking_commands_use_their_own_connection()
    {
        await using var client = new RedisClient(redis.ClientOptions);
        var source = Key();
        var target = Key();

        using var blmove = RespRequest.Create(6).Add("BLMOVE"u8).Add(source).Add(target).Add("LEFT"u8).Add("RIGHT"u8).Add("10"u8);
        var blocked = client.ExecuteBlockingAsync(blmove, TimeSpan.FromSeconds(10), CancellationToken.None);

        // The shared connection is not held up by the blocked command.
        Assert.Equal("PONG", (await client.ExecuteAsync(CancellationToken.None, "PING").WaitAsync(Deadline)).ToString());
        Assert.False(blocked.IsCompleted);
        await client.ExecuteAsync(CancellationToken.None, "RPUSH", source, "item");

        Assert.Equal("item", (await blocked.WaitAsync(Deadline)).ToString());
        Assert.Equal(1, (await client.ExecuteAsync(CancellationToken.None, "LLEN", target)).Integer);
    }

    [Fact]
    public async Task Multi_exec_sent_adjacent_is_one_transaction()
    {
        await using var client = new RedisClient(redis.ClientOptions);
        var key = Key();
        RespRequest[] requests =
        [
            RespRequest.Create(1).Add("MULTI"u8),
            RespRequest.Create(3).Add("RPUSH"u8).Add(key).Add("a"u8),
            RespRequest.Create(3).Add("RPUSH"u8).Add(key).Add("b"u8),
            RespRequest.Create(1).Add("EXEC"u8),
        ];
        try
        {
            var replies = await client.ExecuteAdjacentAsync(requests, CancellationToken.None);
            Assert.Equal("QUEUED", replies[1].ToString());
            Assert.Equal([1L, 2L], replies[3].Items.ToArray().Select(v => v.Integer));
        }
        finally
        {
            foreach (var request in requests)
            {
                request.Dispose();
            }
        }
    }

    [Fact]
    public async Task Scripts_run_by_sha_and_are_reloaded_after_a_flush()
    {
        await using var client = new RedisClient(redis.ClientOptions);
        var script = new RedisScript($"return {{ KEYS[1], ARGV[1], '{Guid.NewGuid():N}' }}");

        for (var round = 0; round < 2; round++)
        {
            using var request = RespRequest.Script(script, keyCount: 1, keysAndArguments: 2).Add("k"u8).Add("v"u8);
            var reply = await client.ExecuteAsync(request, CancellationToken.None);
            Assert.Equal(["k", "v"], reply.Items[..2].ToArray().Select(v => v.ToString()));
            await client.ExecuteAsync(CancellationToken.None, "SCRIPT", "FLUSH");
        }
    }

    [Fact]
    public async Task Resp3_replies_are_understood()
    {
        await using var client = new RedisClient(redis.ClientOptions with { Resp3 = true });
        var key = Key();
        await client.ExecuteAsync(CancellationToken.None, "HSET", key, "f", "v");

        var map = await client.ExecuteAsync(CancellationToken.None, "HGETALL", key);
        Assert.Equal(RespType.Map, map.Type);
        Assert.Equal(["f", "v"], map.Items.ToArray().Select(v => v.ToString()));
        Assert.True((await client.ExecuteAsync(CancellationToken.None, "GET", Key())).IsNull);
        Assert.Equal(RespType.Double, (await client.ExecuteAsync(CancellationToken.None, "ZINCRBY", Key(), "1.5", "m")).Type);
    }

    [Fact]
    public async Task Unreachable_server_fails_fast_with_a_connection_error()
    {
        await using var client = new RedisClient(new RedisClientOptions { Host = "127.0.0.1", Port = FreePort.Tcp(), MinReconnectDelay = TimeSpan.FromSeconds(30), MaxReconnectDelay = TimeSpan.FromSeconds(30) });

        await Assert.ThrowsAsync<RedisConnectionException>(() => client.ExecuteAsync(CancellationToken.None, "PING"));
        // Within the back-off the client does not even try.
        var again = await Assert.ThrowsAsync<RedisConnectionException>(() => client.ExecuteAsync(CancellationToken.None, "PING"));
        Assert.Contains("retrying in", again.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Password_user_and_database_are_used()
    {
        using var server = await RedisServer.StartAsync("--requirepass", "s3cret", "--user", "mailer", "on", ">pw", "~*", "&*", "+@all");
        var key = Key();

        await using (var wrong = new RedisClient(new RedisClientOptions { Host = server.Host, Port = server.Port, Password = "nope" }))
        {
            await Assert.ThrowsAsync<RedisConnectionException>(() => wrong.ExecuteAsync(CancellationToken.None, "PING"));
        }

        await using var client = new RedisClient(new RedisClientOptions { Host = server.Host, Port = server.Port, Username = "mailer", Password = "pw", Database = 3 });
        await client.ExecuteAsync(CancellationToken.None, "SET", key, "in db 3");
        Assert.Equal("mailer", (await client.ExecuteAsync(CancellationToken.None, "ACL", "WHOAMI")).ToString());

        await using var resp3 = new RedisClient(new RedisClientOptions { Host = server.Host, Port = server.Port, Password = "s3cret", Database = 3, Resp3 = true });
        Assert.Equal("in db 3", (await resp3.ExecuteAsync(CancellationToken.None, "GET", key)).ToString());
        await using var db0 = new RedisClient(new RedisClientOptions { Host = server.Host, Port = server.Port, Password = "s3cret" });
        Assert.True((await db0.ExecuteAsync(CancellationToken.None, "GET", key)).IsNull);
    }

    [Fact]
    public async Task The_client_reconnects_after_a_server_restart_and_keeps_what_was_acknowledged()
    {
        using var server = await RedisServer.StartAsync();
        await using var client = new RedisClient(new RedisClientOptions { Host = server.Host, Port = server.Port, MinReconnectDelay = TimeSpan.FromMilliseconds(20), MaxReconnectDelay = TimeSpan.FromMilliseconds(200) });
        var key = Key();
        await client.ExecuteAsync(CancellationToken.None, "RPUSH", key, "before");

        server.Kill();
        await Assert.ThrowsAsync<RedisConnectionException>(() => client.ExecuteAsync(CancellationToken.None, "PING"));
        await server.RestartAsync();

        var length = await Eventually.GetAsync(async () =>
        {
            try
            {
                return (long?)(await client.ExecuteAsync(CancellationToken.None, "LLEN", key)).Integer as object;
            }
            catch (RedisConnectionException)
            {
                return null;
            }
        }, Deadline, "the client to reconnect");
        Assert.Equal(1L, length);
    }

    [Fact]
    public async Task Tls_connections_work()
    {
        var directory = Directory.CreateTempSubdirectory("mm-redis-tls-");
        try
        {
            using var key = System.Security.Cryptography.RSA.Create(2048);
            var request = new System.Security.Cryptography.X509Certificates.CertificateRequest(
                "CN=localhost", key, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
            var certFile = Path.Combine(directory.FullName, "redis.crt");
            var keyFile = Path.Combine(directory.FullName, "redis.key");
            await File.WriteAllTextAsync(certFile, certificate.ExportCertificatePem());
            await File.WriteAllTextAsync(keyFile, key.ExportPkcs8PrivateKeyPem());
            var tlsPort = FreePort.Tcp();
            using var server = await RedisServer.StartAsync(
                "--tls-port", tlsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", certFile, "--tls-auth-clients", "no");
            var thumbprint = certificate.Thumbprint;

            await using var client = new RedisClient(new RedisClientOptions
            {
                Host = server.Host,
                Port = tlsPort,
                UseTls = true,
                TlsServerName = "localhost",
                // A self-signed test certificate: trust exactly this one.
                CertificateValidation = (_, presented, _, _) => presented?.GetCertHashString() == thumbprint,
            });
            await client.ExecuteAsync(CancellationToken.None, "SET", "k", "over tls");
            Assert.Equal("over tls", (await client.ExecuteAsync(CancellationToken.None, "GET", "k")).ToString());

            await using var distrustful = new RedisClient(new RedisClientOptions { Host = server.Host, Port = tlsPort, UseTls = true, TlsServerName = "localhost" });
            await Assert.ThrowsAsync<RedisConnectionException>(() => distrustful.ExecuteAsync(CancellationToken.None, "PING"));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Requests_disposed_and_their_pool_buffers_reused_right_after_sending_still_send_their_own_bytes()
    {
        await using var client = new RedisClient(redis.ClientOptions with { SharedConnections = 1 });
        await client.ConnectAsync(CancellationToken.None);
        var prefix = Key();
        // Large values are written from the request's own pooled buffer, small ones are gathered: both kinds,
        // interleaved, with every request disposed and pool buffers of its size scribbled over before the write.
        var values = Enumerable.Range(0, 120)
            .Select(i => Enumerable.Range(0, i % 3 == 0 ? 100 * 1024 + i : 40 + i).Select(b => (byte)(b * 7 + i)).ToArray())
            .ToArray();

        var sets = new Task<RespValue>[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            var request = RespRequest.Create(3, values[i].Length + 64).Add("SET"u8).Add($"{prefix}:{i}").Add(values[i]);
            sets[i] = client.ExecuteAsync(request, CancellationToken.None);
            request.Dispose();
            var reused = System.Buffers.ArrayPool<byte>.Shared.Rent(values[i].Length + 64);
            reused.AsSpan().Fill(0xEE);
            System.Buffers.ArrayPool<byte>.Shared.Return(reused);
        }
        await Task.WhenAll(sets).WaitAsync(Deadline);

        for (var i = 0; i < values.Length; i++)
        {
            using var get = RespRequest.Create(2).Add("GET"u8).Add($"{prefix}:{i}");
            Assert.Equal(values[i], (await client.ExecuteAsync(get, CancellationToken.None)).Memory.ToArray());
        }
    }

    private static string Key() => "test:" + Guid.NewGuid().ToString("N");
}
