using System.Globalization;
using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.TestSupport;
using YamlDotNet.RepresentationModel;

namespace ManycoreMail.Tests.Deploy;

/// <summary>The container image and docker-compose.yml (issue 14, item 1). No image can be built here (no
/// registry), so what the build depends on is checked instead: the paths the Dockerfile copies, the publish it
/// runs, the compose file's services and the example configuration the containers read.</summary>
public sealed class ContainerImageTests : IDisposable
{
    private static readonly string Root = TestData.RepositoryRoot;
    private static readonly string ComposeConfigs = Path.Combine(Root, "deploy", "compose", "configs");
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "mm-deploy-" + Guid.NewGuid().ToString("N"));

    public ContainerImageTests() => Directory.CreateDirectory(_directory);

    [Fact]
    public void Every_path_the_dockerfile_copies_from_the_context_exists_and_is_not_ignored()
    {
        var ignored = File.ReadAllLines(Path.Combine(Root, ".dockerignore"))
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
        // COPY --from=STAGE copies from an earlier stage, not from the build context.
        var sources = DockerfileInstructions("COPY")
            .Where(arguments => !arguments.Any(a => a.StartsWith("--from=", StringComparison.Ordinal)))
            .Select(arguments => arguments.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray())
            .SelectMany(arguments => arguments[..^1])
            .ToArray();

        Assert.Contains("src/", sources);
        Assert.All(sources, source =>
        {
            var path = Path.Combine(Root, source.TrimEnd('/'));
            Assert.True(File.Exists(path) || Directory.Exists(path), $"Dockerfile copies '{source}', which does not exist");
            var name = source.TrimEnd('/');
            Assert.True(!ignored.Contains(name) || ignored.Contains("!" + name), $".dockerignore leaves '{source}' out of the build context");
        });
    }

    [Fact]
    public void The_image_is_built_with_the_sdk_and_runs_the_mailer_as_a_non_root_user_on_the_aspnet_runtime()
    {
        var stages = DockerfileInstructions("FROM");
        Assert.Equal(["mcr.microsoft.com/dotnet/sdk:10.0", "mcr.microsoft.com/dotnet/aspnet:10.0"], stages.Select(s => s[0]));
        var publish = string.Join(' ', DockerfileInstructions("RUN").Single(r => r.Contains("publish")));
        Assert.Contains("src/ManycoreMail/ManycoreMail.csproj", publish, StringComparison.Ordinal);
        Assert.Contains("-r linux-x64", publish, StringComparison.Ordinal);
        var user = Assert.Single(DockerfileInstructions("USER"))[0];
        Assert.DoesNotContain(user, new[] { "root", "0", "0:0" });
        Assert.Equal(["[\"/app/mailer\"]"], DockerfileInstructions("ENTRYPOINT").Single());
        // The mailer reads /configs/*.yaml when it is given no files: the image must not move that directory.
        Assert.Equal("/configs", LocalDefaults.DefaultConfigDirectory);
    }

    [Fact]
    public async Task The_mailer_publishes_for_linux_x64_as_the_dockerfile_does()
    {
        var output = Path.Combine(_directory, "app");
        // Its own artifacts path, so the publish neither reuses nor disturbs the build the tests run from.
        using var publish = PeerProcess.Start("dotnet",
            ["publish", Path.Combine(Root, "src", "ManycoreMail", "ManycoreMail.csproj"), "-c", "Release", "-r", "linux-x64",
             "--self-contained", "false", "--nologo", "-v", "quiet", "-clp:ErrorsOnly",
             "--artifacts-path", Path.Combine(_directory, "artifacts"), "-o", output], Root);
        Assert.True(await publish.WaitForExitAsync(TimeSpan.FromMinutes(15)) == 0, publish.Output);
        Assert.True(File.Exists(Path.Combine(output, "mailer")), "no apphost 'mailer' (the image's ENTRYPOINT) in the publish output");
        Assert.True(File.Exists(Path.Combine(output, "mailer.dll")), publish.Output);
    }

    [Fact]
    public void The_compose_file_runs_every_role_in_its_own_container_on_redis_with_every_write_fsynced()
    {
        var compose = DeployYaml.LoadMapping(File.ReadAllText(Path.Combine(Root, "docker-compose.yml")), "docker-compose.yml");
        var services = compose.Mapping("services");
        foreach (var role in RoleNames.All)
        {
            var service = services.Mapping(role);
            Assert.Equal([role], service.Get("command").Scalars());
            Assert.Equal(".", service.Scalar("build"));
            Assert.Contains("./deploy/compose/configs:/configs:ro", service.Get("volumes").Scalars());
        }
        var redis = services.Mapping("redis").Get("command").Scalars();
        Assert.Equal("yes", redis[Array.IndexOf(redis, "--appendonly") + 1]);
        Assert.Equal("always", redis[Array.IndexOf(redis, "--appendfsync") + 1]);
        Assert.StartsWith("postgres:", services.Mapping("postgres").Scalar("image"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_compose_example_configuration_passes_mailer_check_config()
    {
        // The files as the containers see them, with /configs and /data moved under this test's directory.
        var configs = Path.Combine(_directory, "configs");
        Directory.CreateDirectory(Path.Combine(configs, "dkim"));
        File.Copy(Path.Combine(ComposeConfigs, "dkim", "example.com.pem"), Path.Combine(configs, "dkim", "example.com.pem"));
        var global = Path.Combine(configs, LocalDefaults.GlobalFileName);
        var customer = Path.Combine(configs, LocalDefaults.CustomerFileName);
        File.Copy(Path.Combine(ComposeConfigs, LocalDefaults.GlobalFileName), global);
        File.WriteAllText(customer, File.ReadAllText(Path.Combine(ComposeConfigs, LocalDefaults.CustomerFileName))
            .Replace("/configs/", configs + "/", StringComparison.Ordinal)
            .Replace("/data", Path.Combine(_directory, "data"), StringComparison.Ordinal));

        var mailer = Path.Combine(AppContext.BaseDirectory, "mailer.dll");
        using var check = PeerProcess.Start("dotnet", [mailer, "check-config", "--global-config-file", global, "--customer-config-file", customer], _directory);
        Assert.True(await check.WaitForExitAsync(TimeSpan.FromMinutes(2)) == 0, check.Output);
        Assert.Contains("Configuration is valid.", check.Output, StringComparison.Ordinal);

        // Every key is one the mailer reads (an unknown one is only a warning), and the roles share Redis and PostgreSQL.
        var loaded = ConfigLoader.Load(new ConfigSources(global, customer));
        Assert.Empty(loaded.Warnings);
        Assert.Equal("redis", loaded.Options.Redis.Hostname);
        Assert.True(loaded.Options.Redis.Configured);
        Assert.NotNull(loaded.Options.Events.Postgresql);
        Assert.NotNull(loaded.Options.Tracking);
        // What docker-compose.yml publishes is what the roles bind inside their containers.
        var services = DeployYaml.LoadMapping(File.ReadAllText(Path.Combine(Root, "docker-compose.yml")), "docker-compose.yml").Mapping("services");
        string Published(string role) => Assert.Single(services.Mapping(role).Get("ports").Scalars()).Split(':')[^1];
        Assert.Equal(loaded.Options.Receiver!.Bind.Port.ToString(CultureInfo.InvariantCulture), Published(RoleNames.Receiver));
        Assert.Equal(loaded.Options.MxServer!.Bind.Port.ToString(CultureInfo.InvariantCulture), Published(RoleNames.MxServer));
        Assert.Equal(loaded.Options.HttpReceiver!.Bind.Port.ToString(CultureInfo.InvariantCulture), Published(RoleNames.HttpReceiver));
        Assert.Equal(loaded.Options.Tracking.Bind.Port.ToString(CultureInfo.InvariantCulture), Published(RoleNames.Tracker));
        // Each role serves its metrics and probes on a bind of its own (redis: `mailer redis-metrics`).
        Assert.Equal(
            RoleNames.All.Append("redis").Order(StringComparer.Ordinal),
            loaded.Options.MetricsBinds.Select(b => b.Role).Order(StringComparer.Ordinal));
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    /// <summary>The arguments of each Dockerfile instruction of that name (continuation lines joined; a JSON-array
    /// form is kept as one argument).</summary>
    private static List<string[]> DockerfileInstructions(string name)
    {
        var logical = new List<string>();
        var current = "";
        foreach (var line in File.ReadAllLines(Path.Combine(Root, "Dockerfile")))
        {
            if (current.Length == 0 && (line.TrimStart().StartsWith('#') || line.Trim().Length == 0))
            {
                continue;
            }
            current += line.TrimEnd().TrimEnd('\\') + " ";
            if (!line.TrimEnd().EndsWith('\\'))
            {
                logical.Add(current.Trim());
                current = "";
            }
        }
        return logical
            .Select(l => l.Split(' ', 2))
            .Where(parts => parts[0].Equals(name, StringComparison.OrdinalIgnoreCase))
            .Select(parts => parts[1].StartsWith('[')
                ? [parts[1]]
                : parts[1].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .ToList();
    }
}
