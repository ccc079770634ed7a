using System.Diagnostics;
using System.Text.Json;

namespace ManycoreMail.Dkim.Tests;

/// <summary>One signature for dkimpy to add. <see cref="RsaPem"/> is ignored for ed25519-sha256, whose key
/// dkimpy's script makes itself (PyNaCl) and reports back.</summary>
internal sealed record DkimpySignature(
    string Selector,
    string Domain,
    string Algorithm = "rsa-sha256",
    string HeaderCanonicalization = "relaxed",
    string BodyCanonicalization = "relaxed",
    bool Length = false,
    string? RsaPem = null,
    IReadOnlyList<string>? Headers = null);

/// <summary>Signs a message with dkimpy (the reference implementation we did not write), one signature after
/// another, each on top of the previous ones.</summary>
internal static class DkimpySigner
{
    private const string Script = """
        import sys, json, base64, dkim, nacl.signing
        request = json.load(sys.stdin)
        msg = base64.b64decode(request['message'])
        keys = []
        for s in request['signatures']:
            if s['algorithm'] == 'ed25519-sha256':
                sk = nacl.signing.SigningKey.generate()
                private = base64.b64encode(bytes(sk))
                keys.append(base64.b64encode(bytes(sk.verify_key)).decode())
            else:
                private = s['rsaPem'].encode()
                keys.append(None)
            headers = [h.encode() for h in s['headers']] if s['headers'] else None
            sig = dkim.sign(msg, s['selector'].encode(), s['domain'].encode(), private,
                            canonicalize=(s['headerCanonicalization'].encode(), s['bodyCanonicalization'].encode()),
                            signature_algorithm=s['algorithm'].encode(), include_headers=headers, length=s['length'])
            msg = sig + msg
        print(json.dumps({'message': base64.b64encode(msg).decode(), 'ed25519Keys': keys}))
        """;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The signed message, and per signature the base64 Ed25519 public key (null for RSA).</summary>
    public static async Task<(byte[] Message, IReadOnlyList<string?> Ed25519Keys)> SignAsync(byte[] message, params DkimpySignature[] signatures)
    {
        var start = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(Script);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.StandardInput.WriteAsync(JsonSerializer.Serialize(new { message = Convert.ToBase64String(message), signatures }, Json));
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            var output = await stdout;
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"dkimpy failed: {await stderr}");
            }
            var reply = JsonSerializer.Deserialize<Reply>(output, Json) ?? throw new InvalidOperationException("dkimpy said nothing");
            return (Convert.FromBase64String(reply.Message), reply.Ed25519Keys);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    private sealed record Reply(string Message, IReadOnlyList<string?> Ed25519Keys);
}
