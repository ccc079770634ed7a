#!/usr/bin/env bash
# Memory of `mailer run` on the embedded spool: RSS when idle, and while N messages wait in the spool because
# their destination refuses connections (issue 7's targets: under 150 MB idle, under 400 MB with 100,000 waiting).
#
#   bench/memory.sh [messages=100000] [size=5000]
#
# Every role runs, with DKIM signing; the MX of the test domain points at a loopback port where nothing listens,
# so every message is transformed and then deferred in the outbound queue, as in an outage of the receiving side.
# Prints idle RSS, peak RSS while the messages came in, and RSS once all of them wait; writes
# bench/results/memory-<UTC time>.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
messages="${1:-100000}"; size="${2:-5000}"
work="$(mktemp -d /tmp/mm-memory-XXXXXX)"; chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

dns_port=25453; sut_port=25687; metrics_port=25690; closed_port=25699
source "$root/bench/lib.sh"
bench_dkim_key "$work/dkim.pem"
bench_dnsmasq $dns_port 127.0.0.2

bench_config $sut_port $dns_port $closed_port $metrics_port
bench_message "$work/message.eml" "$size" memory

"$root/mailer" --help > /dev/null # builds when needed
MAILER_LOG_LEVEL=WARNING dotnet "$root/.mailer-build/mailer.dll" run --global-config-file "$work/global.yaml" \
  --customer-config-file "$work/customer.yaml" > "$work/mailer.log" 2>&1 & mailer=$!; pids+=($mailer)
wait_port $sut_port || { tail -n 20 "$work/mailer.log" >&2; exit 1; }
rss() { awk '/^VmRSS/{print $2}' "/proc/$mailer/status" 2>/dev/null || { tail -n 20 "$work/mailer.log" >&2; exit 1; }; }
gauge() { curl -s "http://127.0.0.1:$metrics_port/metrics" | awk -v n="$1" '$1 == n {printf "%d", $2}'; }

sleep 10 # start-up done, timers running: idle
idle=$(rss)
( while sleep 0.2; do rss; done ) > "$work/rss.log" 2>/dev/null & sampler=$!; pids+=($sampler)
smtp-source -s 20 -m "$messages" -F "$work/message.eml" -f bench@sender.test -t r@bench.test 127.0.0.1:$sut_port
# Until every message has been transformed and waits in the outbound queue (30 minutes at most).
for _ in $(seq 1 18000); do
  [ "$(gauge queue_to_postfix_messages)" -ge "$messages" ] 2>/dev/null && break
  kill -0 "$mailer" 2>/dev/null || { tail -n 20 "$work/mailer.log" >&2; exit 1; }
  sleep 0.1
done
kill $sampler 2>/dev/null || true
peak=$(sort -n "$work/rss.log" | tail -n 1)
sleep 10
waiting=$(rss)
queued=$(gauge queue_to_postfix_messages)
spool_mb=$(du -sm "$work/mm-data" | cut -f1)

mkdir -p "$root/bench/results"
out="$root/bench/results/memory-$(date -u +%Y%m%dT%H%M%SZ).md"
{
  echo "| state | RSS MB |"
  echo "|---|---|"
  echo "| idle (10 s after start) | $((idle / 1024)) |"
  echo "| peak while $messages × $size B messages came in | $((peak / 1024)) |"
  echo "| $queued messages waiting in the outbound queue (spool $spool_mb MB on disk) | $((waiting / 1024)) |"
  echo
  echo "mailer run, embedded spool, every role, DKIM 2048-bit; the destination refuses connections, so the messages are deferred."
} | tee "$out"
