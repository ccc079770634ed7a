using ManycoreMail.Events;

namespace ManycoreMail.Config;

/// <summary>Reads <c>backdata/event-types</c>: the event kinds of ours (deferred, open, click, suppressed) that the
/// webhook gets besides the original's. The original's kinds are always posted, so listing them changes nothing.</summary>
internal static class BackdataEventTypes
{
    public const string Key = "event-types";

    public static IReadOnlySet<string> Read(YamlSection section)
    {
        var added = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in section.StringList(Key))
        {
            var kind = name.Trim().ToLowerInvariant();
            if (EventKinds.Added.Contains(kind))
            {
                added.Add(kind);
            }
            else if (!EventKinds.Original.Contains(kind))
            {
                // A warning, not an error: a kind a later version adds must not stop an older one from starting.
                section.Warning(Key, $"'{name}' is not an event type; known: {string.Join(", ", EventKinds.Original.Concat(EventKinds.Added))}");
            }
        }
        return added;
    }
}
