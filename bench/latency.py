"""Accept-to-delivery percentiles for bench/e2e.sh, estimated alike for every system.

Manycore Mail: two scrapes of its accept_to_delivery_seconds histogram (cumulative bucket lines), before and
after the measured run; the difference is the run's. Postfix: the delay= values (seconds) of the run, one per
line, put into the same buckets. A percentile is interpolated linearly within its bucket, as Prometheus'
histogram_quantile does.

`stages` does the same for the histograms of the mailer's stages (one scrape of every histogram line), so that a
run says where its accept-to-delivery time went.
"""
import re

# The bounds of the mailer's latency histograms (Histogram.OfMessageLatency in src/ManycoreMail/Metrics), in seconds.
BOUNDS = [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75,
          1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400]
BUCKET = re.compile(r'le="([^"]+)"\} ([0-9.eE+]+)')
# Accept -> transformer lease -> hand-off committed -> sender lease -> delivered, each its own histogram.
STAGES = ["transformer_queue_wait_seconds", "transformer_process_seconds", "sender_queue_wait_seconds", "sender_delivery_seconds"]


def _cumulative(path, name=None):
    counts = {}
    try:
        for line in open(path):
            m = BUCKET.search(line)
            if m and (name is None or line.startswith(name + "_bucket{")):
                counts[m.group(1)] = float(m.group(2))
    except FileNotFoundError:
        pass
    return counts


def _from_histogram(before, after, name=None):
    a, b = _cumulative(after, name), _cumulative(before, name)
    bounds = sorted((float(k), k) for k in a if k != "+Inf")
    return [(bound, a[key] - b.get(key, 0.0)) for bound, key in bounds] + [(float("inf"), a.get("+Inf", 0.0) - b.get("+Inf", 0.0))]


def _from_values(path):
    values = [float(v) for v in open(path).read().split()] if path else []
    return [(bound, float(sum(1 for v in values if v <= bound))) for bound in BOUNDS] + [(float("inf"), float(len(values)))]


def _quantile(q, cumulative):
    total = cumulative[-1][1]
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if bound == float("inf"):
                return lower  # beyond the last bound: its value is all that is known
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return None


def percentiles(system, before, after):
    cumulative = _from_values(after) if system == "postfix" else _from_histogram(before, after)
    result = {}
    for name, q in (("p50_ms", 0.5), ("p99_ms", 0.99)):
        value = _quantile(q, cumulative)
        result[name] = None if value is None else round(value * 1000, 1)
    return result


def stages(before, after):
    """{stage: {p50_ms, p99_ms}} from two scrapes holding the stage histograms' bucket lines."""
    result = {}
    for name in STAGES:
        cumulative = _from_histogram(before, after, name)
        values = {}
        for key, q in (("p50_ms", 0.5), ("p99_ms", 0.99)):
            value = _quantile(q, cumulative)
            values[key] = None if value is None else round(value * 1000, 1)
        result[name] = values
    return result
