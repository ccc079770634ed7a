namespace ManycoreMail.TestSupport;

/// <summary>
/// The original system's test mails and the outputs its code produced (shared/spec/fixtures beside the
/// repository), read in place rather than copied into the project.
/// </summary>
public static class SharedFixtures
{
    private static readonly Lazy<string> Root = new(Find);

    /// <summary>The fixture's path: the top level first, then synthetic/.</summary>
    public static string PathOf(string name)
    {
        foreach (var candidate in (ReadOnlySpan<string>)[Path.Combine(Root.Value, name), Path.Combine(Root.Value, "synthetic", name)])
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException($"No fixture '{name}' in {Root.Value} or its synthetic/ folder");
    }

    public static byte[] Bytes(string name) => File.ReadAllBytes(PathOf(name));

    private static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "shared", "spec", "fixtures");
            if (File.Exists(Path.Combine(candidate, "basic.eml")))
            {
                return candidate;
            }
        }
        throw new DirectoryNotFoundException("shared/spec/fixtures not found above " + AppContext.BaseDirectory);
    }
}
