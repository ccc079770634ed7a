using System.Security.Cryptography;

namespace ManycoreMail.Config;

/// <summary>
/// The configuration <c>mailer run</c> uses when it is given none and /configs has none: a working local
/// instance on loopback and high ports, with the embedded spool in ./data and a DKIM key for the
/// <c>localhost</c> sending domain generated on first start. It sends nothing (<c>sender/sink</c>: messages go to
/// ./data/outbox) and posts no webhook (events are stored only).
/// </summary>
internal static class LocalDefaults
{
    public const string DefaultConfigDirectory = "/configs";
    public const string GlobalFileName = "inboxbooster-mailer-global.yaml";
    public const string CustomerFileName = "inboxbooster-mailer-customer.yaml";

    public const string GlobalYaml = """
        reliable-queue:
          queue-names:
            primary-queue: IB-MAIL-QUEUE-P0
            default-queue: IB-MAIL-QUEUE-P1
        backdata:
          queue-name: EVENT_QUEUE
        transformer:
          x-mailer: Manycore-Mail
        postfix:
          incoming-queue-name: INCOMING-TO-POSTFIX
        """;

    public const string CustomerYaml = """
        storage:
          path: ./data
        receiver:
          bind: { inet-interface: 127.0.0.1, inet-port: 2587 }
          prometheus: { inet-interface: 127.0.0.1, inet-port: 9091 }
          trusted-networks: [127.0.0.0/8]
        httpreceiver:
          bind: { inet-interface: 127.0.0.1, inet-port: 8080, inet-port-metrics: 9090 }
          auth-logins:
            - { username: local, password: local }
        transformer:
          email-headers:
            inject:
              List-Unsubscribe: "<mailto:unsub-{{uuid}}@{{from-domain}}>"
          domain-settings:
            - domain: localhost
              dkim-private-key-file: ./data/dkim/localhost.pem
              return-path-domain: localhost
              selector: mailer
          prometheus: { inet-interface: 127.0.0.1, inet-port: 9092 }
        sender:
          helo-name: localhost
          sink: true
          prometheus: { inet-interface: 127.0.0.1, inet-port: 9093 }
        mxserver:
          bind: { inet-interface: 127.0.0.1, inet-port: 2525 }
          eml-directory: ./data/eml
          prometheus: { inet-interface: 127.0.0.1, inet-port: 9094 }
        backdata:
          prometheus: { inet-interface: 127.0.0.1, inet-port: 9095 }
        """;

    /// <summary>Creates what the local configuration points at (the eml directory, the localhost DKIM key).</summary>
    public static void Prepare()
    {
        Directory.CreateDirectory("./data/eml");
        const string keyFile = "./data/dkim/localhost.pem";
        if (!File.Exists(keyFile))
        {
            Directory.CreateDirectory("./data/dkim");
            using var rsa = RSA.Create(2048);
            Hosting.PrivateFiles.Write(keyFile, rsa.ExportPkcs8PrivateKeyPem());
        }
    }
}
