using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace ManycoreMail.Metrics;

/// <summary>
/// The process and runtime series every listener serves, under the names prometheus-net and the Prometheus client
/// libraries use (<c>process_cpu_seconds_total</c>, <c>process_resident_memory_bytes</c>, <c>dotnet_*</c>), plus
/// <c>mailer_build_info{version}</c>. All read when scraped: each read is a runtime property, no I/O.
/// </summary>
internal sealed class RuntimeMetrics : ILabelledFamily
{
    private readonly double _startTimeSeconds;

    public RuntimeMetrics()
    {
        using var process = Process.GetCurrentProcess();
        _startTimeSeconds = new DateTimeOffset(process.StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0;
    }

    // Sorted after every other family name (families render in name order) and no series of its own.
    public string Name => "~process-and-runtime";

    public void Render(StringBuilder text)
    {
        Series(text, "mailer_build_info", "The running build: its version (as mailer --version prints it).", "gauge",
            "{version=\"" + BuildVersion.Text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"}", 1);
        Series(text, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter", "", Environment.CpuUsage.TotalTime.TotalSeconds);
        Series(text, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", "", Environment.WorkingSet);
        Series(text, "process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.", "gauge", "", _startTimeSeconds);
        LabelText.Header(text, "dotnet_collection_count_total", "GC collections since the process started, per generation.", "counter");
        for (var generation = 0; generation <= GC.MaxGeneration; generation++)
        {
            text.Append("dotnet_collection_count_total{generation=\"").Append(generation.ToString(CultureInfo.InvariantCulture)).Append("\"} ")
                .Append(MetricsRegistry.Format(GC.CollectionCount(generation))).Append('\n');
        }
        Series(text, "dotnet_total_memory_bytes", "Bytes currently thought to be allocated on the managed heap.", "gauge", "", GC.GetTotalMemory(false));
        // Precise (not sampled): allocation per message is the figure that decides GC work on the hot paths, and
        // scraping this around a run measures it without a profiler attached.
        Series(text, "dotnet_gc_allocated_bytes_total", "Bytes allocated on the managed heap since the process started.", "counter", "",
            GC.GetTotalAllocatedBytes(precise: false));
        Series(text, "dotnet_gc_heap_size_bytes", "Managed heap size after the last GC, in bytes.", "gauge", "", GC.GetGCMemoryInfo().HeapSizeBytes);
        Series(text, "dotnet_threadpool_threads", "Thread pool threads that exist now.", "gauge", "", ThreadPool.ThreadCount);
        Series(text, "dotnet_threadpool_queue_length", "Work items queued to the thread pool and not started yet.", "gauge", "", ThreadPool.PendingWorkItemCount);
    }

    private static void Series(StringBuilder text, string name, string help, string type, string labels, double value)
    {
        LabelText.Header(text, name, help, type);
        text.Append(name).Append(labels).Append(' ').Append(MetricsRegistry.Format(value)).Append('\n');
    }
}
