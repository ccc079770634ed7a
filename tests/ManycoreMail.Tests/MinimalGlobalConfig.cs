namespace ManycoreMail.Tests;

/// <summary>A global file with every key the loader requires and nothing else, for tests about the customer file.</summary>
internal static class MinimalGlobalConfig
{
    public const string Yaml = """
        reliable-queue:
          queue-names:
            primary-queue: P0
            default-queue: P1
        backdata:
          queue-name: EVENTS
        transformer:
          x-mailer: X
        postfix:
          incoming-queue-name: OUT
        """;
}
