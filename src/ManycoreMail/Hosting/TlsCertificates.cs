using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>The certificate our SMTP listeners offer with STARTTLS: the configured one, or a self-signed
/// one generated once and kept in the storage directory (the original regenerated it on every start).</summary>
internal static class TlsCertificates
{
    public static X509Certificate2 LoadOrCreate(string? certFile, string? keyFile, string storagePath, string hostName, ILogger logger)
    {
        if (certFile is not null && keyFile is not null)
        {
            return Load(certFile, keyFile);
        }
        var directory = Path.Combine(storagePath, "tls");
        var generatedCert = Path.Combine(directory, "self-signed-cert.pem");
        var generatedKey = Path.Combine(directory, "self-signed-key.pem");
        if (File.Exists(generatedCert) && File.Exists(generatedKey))
        {
            return Load(generatedCert, generatedKey);
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
        File.WriteAllText(generatedKey, key.ExportPkcs8PrivateKeyPem());
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(generatedKey, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        File.WriteAllText(generatedCert, certificate.ExportCertificatePem());
        logger.LogWarning("No TLS certificate configured; generated a self-signed one for {Host} in {Directory}", hostName, directory);
        return Load(generatedCert, generatedKey);
    }

    private static X509Certificate2 Load(string certFile, string keyFile)
    {
        using var pem = X509Certificate2.CreateFromPemFile(certFile, keyFile);
        // Re-import so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }
}
