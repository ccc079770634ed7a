#!/usr/bin/env bash
# Throughput of the whole path (smtp-source → receiver → transformer → sender → smtp-sink) on the two queue
# backends, in one run on loopback, with the same message, key and peers:
#
#   embedded     mailer run                          (SQLite spool, one process)
#   redis-run    mailer run --queue redis            (Redis, every role in one process)
#   redis-procs  mailer receiver|transformer|sender --queue redis, one process per role
#
#   bench/redis-vs-embedded.sh            # 5,000 × 5 KB, concurrency 20
#   bench/redis-vs-embedded.sh --quick    # 1,000 × 5 KB
#   bench/redis-vs-embedded.sh --messages 20000 --systems embedded,redis-procs
#
# Redis runs as the documented production setting: appendonly yes, appendfsync always, auto-aof-rewrite-min-size 1gb. Writes
# bench/results/redis-vs-embedded-<UTC time>.md. Needs dnsmasq, postfix (smtp-sink, smtp-source), redis-server.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
systems="embedded,redis-run,redis-procs"
count=5000; size=5000; concurrency=20
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) count=1000 ;;
    --messages) count="$2"; shift ;;
    --systems) systems="$2"; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

work="$(mktemp -d /tmp/mm-bench-redis-XXXXXX)"; chmod 755 "$work"
pids=()
sut_pids=""
cleanup() {
  for p in $sut_pids "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

dns_port=25354; sink_port=25526; sut_port=25588; redis_port=26380
sink_ip=127.0.0.2

source "$root/bench/lib.sh"
bench_dkim_key "$work/dkim.pem"
bench_dnsmasq $dns_port $sink_ip

sunk() { grep -o 'mesg=[0-9]*' "$work/sink.out" | tail -n 1 | cut -d= -f2; }
busy_jiffies() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }

start_sink() {
  : > "$work/sink.out"
  /usr/sbin/smtp-sink -u nobody -c $sink_ip:$sink_port 1000 > "$work/sink.out" 2>&1 &
  sink_pid=$!
  wait_port $sink_ip $sink_port || { echo "smtp-sink did not start" >&2; exit 1; }
}

start_redis() {
  rm -rf "$work/redis"; mkdir -p "$work/redis"
  redis-server --bind 127.0.0.1 --port $redis_port --dir "$work/redis" --save "" --appendonly yes \
    --appendfsync always --auto-aof-rewrite-min-size 1gb --protected-mode no --daemonize no --logfile "$work/redis/log" &
  redis_pid=$!
  wait_port 127.0.0.1 $redis_port || { cat "$work/redis/log" >&2; exit 1; }
}

bench_message "$work/message.eml" "$size"

bench_config $sut_port $dns_port $sink_port 0 $redis_port

mailer() { MAILER_LOG_LEVEL=WARNING exec dotnet "$root/.mailer-build/mailer.dll" "$@" --global-config-file "$work/global.yaml" --customer-config-file "$work/customer.yaml"; }

start_system() {
  rm -rf "$work/mm-data"
  sut_pids=""
  case "$1" in
    embedded) mailer run > "$work/$1.log" 2>&1 & sut_pids="$!" ;;
    redis-run) mailer run --queue redis > "$work/$1.log" 2>&1 & sut_pids="$!" ;;
    redis-procs)
      # The documented start order: sender, transformer, then the receiver.
      for role in sender transformer receiver; do
        mailer "$role" --queue redis > "$work/$1-$role.log" 2>&1 & sut_pids="$sut_pids $!"
      done ;;
  esac
  wait_port 127.0.0.1 $sut_port || { cat "$work/$1"*.log >&2; exit 1; }
}
stop_system() {
  # Receivers first (the documented stop order), then the workers; SIGTERM, each drains.
  for p in $(echo $sut_pids | tr ' ' '\n' | tac); do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  sut_pids=""
}
rss_kb() { local s=0; for p in $sut_pids; do s=$((s + $(awk '/VmRSS/{print $2}' /proc/$p/status 2>/dev/null || echo 0))); done; echo $s; }

"$root/mailer" --help >/dev/null
hz=$(getconf CLK_TCK)
results="$work/results.jsonl"; : > "$results"
for system in ${systems//,/ }; do
  echo "== $system: $count messages of $size bytes, concurrency $concurrency" >&2
  start_sink
  redis_pid=""
  if [[ "$system" == redis-* ]]; then start_redis; fi
  start_system "$system"
  ( while sleep 0.2; do rss_kb; done ) > "$work/rss.log" 2>/dev/null & sampler=$!
  cpu0=$(busy_jiffies); t0=$(date +%s.%N)
  smtp-source -s "$concurrency" -m "$count" -F "$work/message.eml" -f bench@sender.test -t r@bench.test 127.0.0.1:$sut_port
  t1=$(date +%s.%N)
  for _ in $(seq 1 36000); do [ "$(sunk)" -ge "$count" ] 2>/dev/null && break; sleep 0.05; done
  t2=$(date +%s.%N); cpu1=$(busy_jiffies)
  kill $sampler 2>/dev/null || true; wait $sampler 2>/dev/null || true
  peak=$(sort -n "$work/rss.log" | tail -n 1)
  got=$(sunk)
  stop_system
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  kill $sink_pid 2>/dev/null || true; wait $sink_pid 2>/dev/null || true
  python3 - "$system" "$count" "$size" "$concurrency" "$t0" "$t1" "$t2" "$cpu0" "$cpu1" "$hz" "${peak:-0}" "${got:-0}" >> "$results" <<'PY'
import json, sys
system, count, size, conc, t0, t1, t2, c0, c1, hz, peak, got = sys.argv[1:]
count, size, conc, got = int(count), int(size), int(conc), int(got)
t0, t1, t2 = float(t0), float(t1), float(t2)
cpu = (int(c1) - int(c0)) / int(hz)
print(json.dumps({"system": system, "messages": count, "size": size, "delivered": got,
  "accepted_per_s": round(count / (t1 - t0), 1), "end_to_end_per_s": round(got / (t2 - t0), 1),
  "seconds": round(t2 - t0, 2), "peak_rss_mb": round(int(peak) / 1024, 1),
  "machine_cpu_s_per_1000": round(cpu / max(got, 1) * 1000, 2)}))
PY
done

mkdir -p "$root/bench/results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
python3 - "$results" "$root/bench/results/redis-vs-embedded-$stamp.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
base = next((r for r in rows if r["system"] == "embedded"), None)
lines = ["| system | messages × size | delivered | accepted msg/s | end-to-end msg/s | × embedded | peak RSS MB (all processes) | machine CPU s / 1000 msgs |",
         "|---|---|---|---|---|---|---|---|"]
for r in rows:
    ratio = f'{r["end_to_end_per_s"] / base["end_to_end_per_s"]:.2f}' if base and base["end_to_end_per_s"] else "-"
    lines.append(f'| {r["system"]} | {r["messages"]} × {r["size"]} B | {r["delivered"]} | {r["accepted_per_s"]} | {r["end_to_end_per_s"]} | {ratio} | {r["peak_rss_mb"]} | {r["machine_cpu_s_per_1000"]} |')
lines.append("")
lines.append("Redis: appendonly yes, appendfsync always, auto-aof-rewrite-min-size 1gb. Machine CPU includes smtp-source, smtp-sink and redis-server.")
text = "\n".join(lines)
open(sys.argv[2], "w").write(text + "\n")
print(text)
PY
