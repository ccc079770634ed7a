using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>The certificate our SMTP listeners offer with STARTTLS: the configured one, or a self-signed
/// one generated once and kept in the storage directory (the original regenerated it on every start).</summary>
internal static class TlsCertificates
{
    /// <summary>The certificate, following its files: a renewed one (say, by cert-manager or certbot) is picked
    /// up without a restart.</summary>
    public static ReloadingCertificate Open(string? certFile, string? keyFile, string storagePath, string hostName, ILogger logger,
        TimeSpan? checkInterval = null)
    {
        var (cert, key) = ResolveFiles(certFile, keyFile, storagePath, hostName, logger);
        return new ReloadingCertificate(cert, key, logger, checkInterval ?? ReloadingCertificate.DefaultCheckInterval);
    }

    private static (string Cert, string Key) ResolveFiles(string? certFile, string? keyFile, string storagePath, string hostName, ILogger logger)
    {
        if (certFile is not null && keyFile is not null)
        {
            return (certFile, keyFile);
        }
        var directory = Path.Combine(storagePath, "tls");
        var generatedCert = Path.Combine(directory, "self-signed-cert.pem");
        var generatedKey = Path.Combine(directory, "self-signed-key.pem");
        if (File.Exists(generatedCert) && File.Exists(generatedKey))
        {
            return (generatedCert, generatedKey);
        }
        Directory.CreateDirectory(directory);
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={hostName}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(hostName);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: false));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(5));
        PrivateFiles.Write(generatedKey, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(generatedCert, certificate.ExportCertificatePem());
        logger.LogWarning("No TLS certificate configured; generated a self-signed one for {Host} in {Directory}", hostName, directory);
        return (generatedCert, generatedKey);
    }

    internal static X509Certificate2 Load(string certFile, string keyFile)
    {
        using var pem = X509Certificate2.CreateFromPemFile(certFile, keyFile);
        // Re-import so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }
}

/// <summary>
/// A certificate that follows its PEM files. <see cref="Current"/> is called on every EHLO and STARTTLS, so it
/// looks at the files' modification times at most once per check interval (two stat calls) and
/// reloads only when they changed. A file caught half-written fails to load: the previous certificate stays
/// in use and the load is retried at the next check.
/// </summary>
internal sealed class ReloadingCertificate
{
    public static readonly TimeSpan DefaultCheckInterval = TimeSpan.FromSeconds(1);

    private readonly long _checkIntervalMs;

    private readonly string _certFile;
    private readonly string _keyFile;
    private readonly ILogger _logger;
    private readonly Lock _reloadGate = new();
    private volatile X509Certificate2 _current;
    private (DateTime Cert, DateTime Key) _loadedStamp;
    private (DateTime Cert, DateTime Key) _failedStamp;
    private long _nextCheck;

    public ReloadingCertificate(string certFile, string keyFile, ILogger logger, TimeSpan checkInterval)
    {
        _checkIntervalMs = (long)checkInterval.TotalMilliseconds;
        _certFile = certFile;
        _keyFile = keyFile;
        _logger = logger;
        _loadedStamp = Stamp();
        _current = TlsCertificates.Load(certFile, keyFile);
        _nextCheck = Environment.TickCount64 + _checkIntervalMs;
    }

    /// <summary>The certificate to offer now.</summary>
    public X509Certificate2 Current()
    {
        var now = Environment.TickCount64;
        if (now < Volatile.Read(ref _nextCheck) || !_reloadGate.TryEnter())
        {
            // Between checks, or another session is checking right now: the current one is fine.
            return _current;
        }
        try
        {
            Volatile.Write(ref _nextCheck, now + _checkIntervalMs);
            var stamp = Stamp();
            if (stamp != _loadedStamp && stamp != _failedStamp)
            {
                Reload(stamp);
            }
        }
        finally
        {
            _reloadGate.Exit();
        }
        return _current;
    }

    private void Reload((DateTime Cert, DateTime Key) stamp)
    {
        try
        {
            // The old certificate is not disposed: a handshake under way may still hold it.
            _current = TlsCertificates.Load(_certFile, _keyFile);
            _loadedStamp = stamp;
            _logger.LogInformation("Reloaded the TLS certificate from {File}: {Subject}, valid until {NotAfter}", _certFile, _current.Subject, _current.NotAfter);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Likely caught between the certificate and key being replaced; a later change retries.
            _failedStamp = stamp;
            _logger.LogWarning(e, "Could not reload the TLS certificate from {File}; keeping the previous one", _certFile);
        }
    }

    private (DateTime Cert, DateTime Key) Stamp() => (File.GetLastWriteTimeUtc(_certFile), File.GetLastWriteTimeUtc(_keyFile));
}
