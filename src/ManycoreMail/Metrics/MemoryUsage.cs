using System.Globalization;

namespace ManycoreMail.Metrics;

/// <summary>memory_usage_percent as the original computed it: (Total − Free − Buffers − Cached) / Total · 100.</summary>
internal static class MemoryUsage
{
    public static double Percent()
    {
        const string path = "/proc/meminfo";
        if (!File.Exists(path))
        {
            return double.NaN;
        }
        double total = 0, free = 0, buffers = 0, cached = 0;
        foreach (var line in File.ReadLines(path))
        {
            var colon = line.IndexOf(':');
            if (colon < 0)
            {
                continue;
            }
            var name = line.AsSpan(0, colon);
            var rest = line.AsSpan(colon + 1).Trim();
            var space = rest.IndexOf(' ');
            var number = space < 0 ? rest : rest[..space];
            if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var kb))
            {
                continue;
            }
            switch (name)
            {
                case "MemTotal": total = kb; break;
                case "MemFree": free = kb; break;
                case "Buffers": buffers = kb; break;
                case "Cached": cached = kb; break;
            }
        }
        return total <= 0 ? double.NaN : Math.Round((total - free - buffers - cached) / total * 100, 3);
    }
}
