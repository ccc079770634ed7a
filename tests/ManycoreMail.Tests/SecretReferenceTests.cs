using ManycoreMail.Config;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Tests;

/// <summary>Secrets outside the YAML: any string of the customer file may be <c>${ENV_NAME}</c> or <c>{file: /path}</c>;
/// one that cannot be resolved is a configuration error naming the file and the key, and a resolved value is never
/// quoted in a problem.</summary>
public sealed class SecretReferenceTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("mm-secrets-");

    /// <summary>A variable name no other test (or process) uses; unset unless the test sets it.</summary>
    private static string UniqueVariable() => "MM_TEST_SECRET_" + Guid.NewGuid().ToString("N").ToUpperInvariant();

    private static string Customer(string port, string password, string network = "127.0.0.0/8", string postUrl = "https://hooks.example.com/events") => $$"""
        receiver:
          bind:
            inet-interface: 127.0.0.1
            inet-port: {{port}}
          auth-logins:
            - username: apa
              password: {{password}}
          trusted-networks:
            - 10.0.0.0/8
            - {{network}}
        backdata:
          post-url: {{postUrl}}
        """;

    [Fact]
    public void Environment_variables_resolve_in_nested_keys_list_items_and_numbers()
    {
        var (port, password, network) = (UniqueVariable(), UniqueVariable(), UniqueVariable());
        Environment.SetEnvironmentVariable(port, "2600");
        Environment.SetEnvironmentVariable(password, "p@ss word");
        Environment.SetEnvironmentVariable(network, "192.168.0.0/16");
        try
        {
            var loaded = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer("${" + port + "}", "\"${" + password + "}\"", "${" + network + "}"));

            var receiver = loaded.Options.Receiver!;
            Assert.Equal(2600, receiver.Bind.Port);
            Assert.Equal("p@ss word", Assert.Single(receiver.Logins).Password);
            Assert.Equal(["10.0.0.0/8", "192.168.0.0/16"], receiver.TrustedNetworks.Select(n => n.ToString()));
            Assert.Empty(loaded.Warnings);
        }
        finally
        {
            Environment.SetEnvironmentVariable(port, null);
            Environment.SetEnvironmentVariable(password, null);
            Environment.SetEnvironmentVariable(network, null);
        }
    }

    [Fact]
    public void A_doubled_dollar_is_the_literal_text_of_a_reference()
    {
        var name = UniqueVariable();
        Environment.SetEnvironmentVariable(name, "resolved");
        try
        {
            var loaded = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer("2600", "\"$${" + name + "}\""));

            Assert.Equal("${" + name + "}", Assert.Single(loaded.Options.Receiver!.Logins).Password);
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void An_unset_variable_is_an_error_naming_file_key_and_variable()
    {
        var (password, url, network) = (UniqueVariable(), UniqueVariable(), UniqueVariable());

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(MinimalGlobalConfig.Yaml,
            Customer("2600", "${" + password + "}", "${" + network + "}", "${" + url + "}")));

        Assert.Contains($"customer.yaml: receiver/auth-logins[0]/password: environment variable {password} is not set", error.Problems);
        Assert.Contains($"customer.yaml: backdata/post-url: environment variable {url} is not set", error.Problems);
        Assert.Contains($"customer.yaml: receiver/trusted-networks[1]: environment variable {network} is not set", error.Problems);
    }

    [Fact]
    public void A_file_reference_is_the_file_without_its_trailing_newline_in_keys_and_list_items()
    {
        var secret = Path.Combine(_directory.FullName, "password");
        File.WriteAllText(secret, "from a file\n");
        var network = Path.Combine(_directory.FullName, "network");
        File.WriteAllText(network, "172.16.0.0/12\r\n");

        var loaded = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer("2600", $"{{ file: {secret} }}", $"{{ file: {network} }}"));

        Assert.Equal("from a file", Assert.Single(loaded.Options.Receiver!.Logins).Password);
        Assert.Equal("172.16.0.0/12", loaded.Options.Receiver.TrustedNetworks[1].ToString());
        Assert.True(loaded.Warnings.Count == 0, string.Join("\n", loaded.Warnings));
    }

    [Fact]
    public void A_missing_file_is_an_error_naming_file_key_and_path()
    {
        var missing = Path.Combine(_directory.FullName, "no-such-secret");

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer("2600", $"{{ file: {missing} }}")));

        var problem = Assert.Single(error.Problems);
        Assert.StartsWith($"customer.yaml: receiver/auth-logins[0]/password: file '{missing}' cannot be read", problem);
    }

    [Fact]
    public void A_resolved_value_is_never_quoted_in_a_problem()
    {
        var port = UniqueVariable();
        Environment.SetEnvironmentVariable(port, "hunter2");
        try
        {
            var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer("${" + port + "}", "x")));

            Assert.Contains($"customer.yaml: receiver/bind/inet-port: (the value of ${{{port}}}) is not a whole number", error.Problems);
            Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(port, null);
        }
    }

    [Fact]
    public async Task Check_config_names_the_key_whose_variable_is_not_set()
    {
        var variable = UniqueVariable();
        var global = Path.Combine(_directory.FullName, "global.yaml");
        var customer = Path.Combine(_directory.FullName, "customer.yaml");
        await File.WriteAllTextAsync(global, MinimalGlobalConfig.Yaml);
        await File.WriteAllTextAsync(customer, Customer("2600", "${" + variable + "}"));
        var mailer = Path.Combine(AppContext.BaseDirectory, "mailer.dll");

        using var process = PeerProcess.Start("dotnet", [mailer, "check-config", "--global-config-file", global, "--customer-config-file", customer], _directory.FullName);

        Assert.Equal(2, await process.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains($"{customer}: receiver/auth-logins[0]/password: environment variable {variable} is not set", process.Output);
    }

    public void Dispose() => _directory.Delete(recursive: true);
}
