#!/usr/bin/env python3
"""Turn an end-to-end run (bench/results/e2e-*.json) into the report users read: bench/results/latest.md and
one picture, bench/results/latest.svg (throughput, latency, and messages per hour per vCPU beside KumoMTA's
published figure).

    bench/report.py                      # the newest bench/results/e2e-*.json of a plain run (every system, no
                                         # --hog or --steal), the one users compare
    bench/report.py bench/results/e2e-20261206T234626Z.json

Only the standard library: the picture is plain SVG, so it renders on GitHub and in any browser.
"""
import glob
import json
import math
import os
import sys
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

# KumoMTA's own published figure, taken as they state it: "nearly 3.3 million" 100 KB messages an hour on an AWS
# c5n.2xlarge (8 vCPU, 21 GB, RocksDB spool), 100,000 messages injected as fast as possible, averaged over four runs
# (kumomta.com/blog/kumomta-performance-update, release 2025.05.06). We divide by the vCPUs as they count them.
KUMO = {"messages_per_hour": 3_300_000, "vcpus": 8, "size": 100_000,
        "source": "https://kumomta.com/blog/kumomta-performance-update",
        "machine": "AWS c5n.2xlarge, 8 vCPU, 21 GB, RocksDB spool"}

COLOURS = {"manycore": "#1f6feb", "manycore-redis": "#2da44e", "manycore-tracking": "#8250df",
           "postfix": "#8c959f", "kumomta (published)": "#d4a72c"}
LABELS = {"manycore": "Manycore Mail, embedded spool", "manycore-redis": "Manycore Mail on Redis (AOF, fsync always)",
          "manycore-tracking": "Manycore Mail with tracking", "postfix": "Postfix + OpenDKIM",
          "kumomta (published)": "KumoMTA, its published figure"}


def plain(path):
    """A run of Manycore Mail on both queues beside Postfix on an otherwise quiet machine: the one users compare (a
    subset of systems, a slow day made with --hog or --steal, or another build's run (--build) belongs in its own
    write-up)."""
    with open(path, encoding="utf-8") as f:
        run = json.load(f)
    systems = {r["system"] for r in run["results"]}
    return {"manycore", "manycore-redis", "postfix"} <= systems and not run.get("cpu_hogs") and not run.get("cpu_steal_percent") \
        and not run.get("mailer_build")


def newest_run():
    runs = [path for path in sorted(glob.glob(os.path.join(RESULTS, "e2e-*.json"))) if plain(path)]
    if not runs:
        sys.exit("bench/report.py: no plain bench/results/e2e-*.json (every system, no --hog or --steal); run bench/e2e.sh first")
    return runs[-1]


def size_label(size):
    return f"{size // 1000} KB" if size >= 1000 else f"{size} B"


def per_vcpu_hour(row, vcpus):
    return row["end_to_end_per_s"] * 3600 / vcpus


def per_cpu_hour(row):
    # Machine CPU includes smtp-source and smtp-sink: a conservative figure for the MTA alone.
    cpu = row.get("machine_cpu_s_per_1000")
    return 3600 / (cpu / 1000) if cpu else None


def markdown(run, source, vcpus):
    rows = run["results"]
    postfix = {(r["messages"], r["size"]): r for r in rows if r["system"] == "postfix"}
    out = ["# Manycore Mail: the latest end-to-end benchmark", "",
           f"From `{os.path.relpath(source, os.path.dirname(HERE))}` (bench/e2e.sh), rendered by bench/report.py on "
           f"{datetime.now(timezone.utc):%Y-%m-%d}. Every system ran the same workload in one run on this machine "
           f"({vcpus} vCPU): smtp-source injecting at concurrency 20 from loopback, Postfix's smtp-sink as the "
           "receiving MX, DKIM rsa-sha256 with a 2048-bit key on every message, queues durable before the 250 "
           "(SQLite WAL synchronous=FULL; Redis appendfsync always; Postfix's own queue).", "",
           "![throughput and latency per system](latest.svg)", "",
           "| system | workload | end-to-end msg/s | × Postfix | p50 / p99 accept→delivery ms | peak RSS MB | machine CPU s / 1000 msgs |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        base = postfix.get((r["messages"], r["size"]))
        ratio = f'{r["end_to_end_per_s"] / base["end_to_end_per_s"]:.2f}×' if base else "-"
        latency = f'{r["p50_ms"]} / {r["p99_ms"]}' if r.get("p50_ms") is not None else "-"
        out.append(f'| {LABELS.get(r["system"], r["system"])} | {r["messages"]:,} × {size_label(r["size"])} | '
                   f'{r["end_to_end_per_s"]:,} | {ratio} | {latency} | {r["peak_rss_mb"]} | {r["machine_cpu_s_per_1000"]} |')
    out += ["", "## Messages per hour per vCPU at 100 KB, beside KumoMTA", "",
            "KumoMTA publishes one figure users quote: nearly 3.3 million 100 KB messages an hour on an "
            f"{KUMO['machine']} ([source]({KUMO['source']})), that is "
            f"**{KUMO['messages_per_hour'] / KUMO['vcpus']:,.0f} messages per hour per vCPU**. The same unit from our "
            "own run: end-to-end messages per second × 3,600 ÷ the vCPUs of this machine, which also ran the "
            "injector and the sink (KumoMTA's generator ran elsewhere), so ours is the harder count. The last column "
            "divides by the CPU time the whole machine actually used instead.", "",
            "| system | 100 KB msg/s | messages per hour per vCPU | ÷ KumoMTA's | messages per machine-CPU-hour |",
            "|---|---|---|---|---|"]
    kumo_per_vcpu = KUMO["messages_per_hour"] / KUMO["vcpus"]
    for r in (r for r in rows if r["size"] == KUMO["size"]):
        hourly = per_vcpu_hour(r, vcpus)
        cpu_hour = per_cpu_hour(r)
        out.append(f'| {LABELS.get(r["system"], r["system"])} | {r["end_to_end_per_s"]:,} | {hourly:,.0f} | '
                   f'{hourly / kumo_per_vcpu:.2f} | {f"{cpu_hour:,.0f}" if cpu_hour else "-"} |')
    out.append(f"| {LABELS['kumomta (published)']} | - | {kumo_per_vcpu:,.0f} | 1.00 | - |")
    out += ["", "Caveats: KumoMTA's figure comes from other hardware (c5n vCPUs are hyperthreads of a 3.0 GHz Xeon) and "
            "its own harness, and the part of their post we read does not say whether DKIM signing was on (ours signs every message); we did not run KumoMTA here (its packages are not reachable from this machine). Read the ratio as an order of "
            "magnitude, and our Postfix column as the like-for-like comparison. "
            f"openssl speed rsa2048 on one core of this machine during the run: {run.get('rsa2048_signs_per_s')} signs/s "
            "(the ceiling for DKIM-signed messages per core).", "",
            "Reproduce: `bench/e2e.sh` (needs dnsmasq, postfix, opendkim, redis-server; see bench/README.md), then "
            "`bench/report.py`."]
    return "\n".join(out) + "\n"


class Svg:
    def __init__(self, width, height):
        self.width, self.height, self.parts = width, height, []

    def add(self, element):
        self.parts.append(element)

    def text(self, x, y, content, size=12, anchor="start", weight="normal", fill="#24292f"):
        content = str(content).replace("&", "&amp;").replace("<", "&lt;")
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                 f'font-weight="{weight}" fill="{fill}">{content}</text>')

    def rect(self, x, y, w, h, fill, title=None):
        tip = f"<title>{title}</title>" if title else ""
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" fill="{fill}">{tip}</rect>')

    def line(self, x1, y1, x2, y2, stroke="#d0d7de", width=1):
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" stroke-width="{width}"/>')

    def render(self):
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
                f'viewBox="0 0 {self.width} {self.height}" font-family="Helvetica, Arial, sans-serif">'
                f'<rect width="{self.width}" height="{self.height}" fill="#ffffff"/>')
        return head + "".join(self.parts) + "</svg>\n"


def nice_ceiling(value):
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def bar_slots(svg, x0, y0, w, h, groups, systems):
    """Lays the groups side by side and yields (x, bar width, system, row) for each bar that has a row; writes each
    group's label under the axis."""
    group_w = w / len(groups)
    bar_w = min(38, group_w * 0.8 / max(len(systems), 1))
    for gi, (group_label, members) in enumerate(groups):
        start = x0 + gi * group_w + (group_w - bar_w * len(systems)) / 2
        for si, system in enumerate(systems):
            if members.get(system) is not None:
                yield start + si * bar_w, bar_w, system, members[system]
        svg.text(x0 + gi * group_w + group_w / 2, y0 + h + 16, group_label, size=12, anchor="middle")


def bar_panel(svg, x0, y0, w, h, title, groups, systems, value_of, label_of, scale_max):
    """Grouped vertical bars: one group per workload, one bar per system."""
    svg.text(x0, y0 - 12, title, size=14, weight="bold")
    svg.line(x0, y0 + h, x0 + w, y0 + h, stroke="#57606a")
    for tick in range(5):
        value = scale_max * tick / 4
        y = y0 + h - h * tick / 4
        svg.line(x0, y, x0 + w, y)
        svg.text(x0 - 6, y + 4, f"{value:,.0f}", size=10, anchor="end", fill="#57606a")
    for x, bar_w, system, row in bar_slots(svg, x0, y0, w, h, groups, systems):
        value = value_of(row)
        bar_h = h * min(value / scale_max, 1)
        svg.rect(x + 2, y0 + h - bar_h, bar_w - 4, bar_h, COLOURS.get(system, "#6e7781"),
                 title=f"{LABELS.get(system, system)}: {value:,.0f}")
        for li, label_line in enumerate(reversed(label_of(row).split("\n"))):
            svg.text(x + bar_w / 2, y0 + h - bar_h - 4 - 12 * li, label_line, size=10, anchor="middle")


def latency_panel(svg, x0, y0, w, h, groups, systems):
    """p50 as a bar and p99 as a whisker on a log scale, so 30 ms and 30 s fit one axis."""
    svg.text(x0, y0 - 12, "Accept → delivery ms (bar p50, tick p99)", size=14, weight="bold")
    low, high = 10, 100_000
    span = math.log10(high) - math.log10(low)

    def y_of(ms):
        ms = min(max(ms, low), high)
        return y0 + h - h * (math.log10(ms) - math.log10(low)) / span

    for ms in (10, 100, 1000, 10_000, 100_000):
        svg.line(x0, y_of(ms), x0 + w, y_of(ms))
        svg.text(x0 - 6, y_of(ms) + 4, f"{ms:,}", size=10, anchor="end", fill="#57606a")
    for x, bar_w, system, row in bar_slots(svg, x0, y0, w, h, groups, systems):
        if row.get("p50_ms") is None:
            continue
        colour = COLOURS.get(system, "#6e7781")
        svg.rect(x + 2, y_of(row["p50_ms"]), bar_w - 4, y0 + h - y_of(row["p50_ms"]), colour,
                 title=f'{LABELS.get(system, system)}: p50 {row["p50_ms"]} ms, p99 {row["p99_ms"]} ms')
        p99 = y_of(row["p99_ms"])
        svg.line(x + bar_w / 2, y_of(row["p50_ms"]), x + bar_w / 2, p99, stroke=colour, width=2)
        svg.line(x + 5, p99, x + bar_w - 5, p99, stroke=colour, width=2)
        svg.text(x + bar_w / 2, p99 - 4, f'{row["p99_ms"]:,.0f}', size=9, anchor="middle")


def picture(run, vcpus):
    rows = run["results"]
    order = [s for s in COLOURS if any(r["system"] == s for r in rows)]
    sizes = sorted({r["size"] for r in rows})
    groups = [(f'{size_label(size)} messages', {r["system"]: r for r in rows if r["size"] == size}) for size in sizes]
    svg = Svg(1220, 470)
    svg.text(24, 30, "Manycore Mail end to end: same machine, same run, DKIM on every message, durable queues",
             size=16, weight="bold")
    postfix = {r["size"]: r for r in rows if r["system"] == "postfix"}

    def ratio(row):
        base = postfix.get(row["size"])
        return f'{row["end_to_end_per_s"] / base["end_to_end_per_s"]:.1f}×\n{row["end_to_end_per_s"]:,.0f}' \
            if base and row["system"] != "postfix" else f'{row["end_to_end_per_s"]:,.0f}'

    top = nice_ceiling(max(r["end_to_end_per_s"] for r in rows) * 1.1)
    bar_panel(svg, 70, 80, 390, 300, "End-to-end msg/s (and × Postfix)", groups, order,
              lambda r: r["end_to_end_per_s"], ratio, top)
    latency_panel(svg, 540, 80, 340, 300, groups, order)

    hundred = [r for r in rows if r["size"] == KUMO["size"]]
    if hundred:
        kumo = {"system": "kumomta (published)", "size": KUMO["size"], "end_to_end_per_s": 0}
        members = {r["system"]: r for r in hundred}
        members[kumo["system"]] = kumo
        systems = [s for s in order if s in members] + [kumo["system"]]

        def hourly(row):
            return KUMO["messages_per_hour"] / KUMO["vcpus"] if row is kumo else per_vcpu_hour(row, vcpus)

        top_hourly = nice_ceiling(max(hourly(r) for r in members.values()) * 1.15)
        bar_panel(svg, 970, 80, 220, 300, "100 KB msgs/hour/vCPU", [("", members)], systems,
                  hourly, lambda r: f"{hourly(r) / 1000:,.0f}k", top_hourly)
    legend_y = 430
    x = 24
    for system in order + (["kumomta (published)"] if hundred else []):
        svg.rect(x, legend_y - 10, 12, 12, COLOURS.get(system, "#6e7781"))
        svg.text(x + 18, legend_y, LABELS.get(system, system), size=12)
        x += 30 + 7 * len(LABELS.get(system, system))
    svg.text(24, legend_y + 24, f"{vcpus} vCPU machine (injector and sink included); KumoMTA's bar is its published "
             "figure on other hardware, divided by its vCPUs.", size=11, fill="#57606a")
    return svg.render()


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else newest_run()
    run = json.load(open(source))
    vcpus = run.get("vcpus") or os.cpu_count() or 1
    with open(os.path.join(RESULTS, "latest.md"), "w") as md:
        md.write(markdown(run, source, vcpus))
    with open(os.path.join(RESULTS, "latest.svg"), "w") as svg:
        svg.write(picture(run, vcpus))
    print(f"bench/results/latest.md and latest.svg from {os.path.relpath(source)}")


if __name__ == "__main__":
    main()
