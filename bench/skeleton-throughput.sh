#!/usr/bin/env bash
# Rough whole-path throughput: smtp-source → receiver → transformer (DKIM) → sender → smtp-sink,
# everything on loopback, MX found through dnsmasq. Usage: bench/skeleton-throughput.sh [messages] [sessions] [size]
# (The full side-by-side benchmark against Postfix is bench/e2e.sh, a later issue.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
messages="${1:-2000}"; sessions="${2:-20}"; size="${3:-5000}"
work="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

dns_port=15353; sink_port=12525; rcv_port=12587; metrics_port=12588
source "$root/bench/lib.sh"
bench_dkim_key "$work/dkim.pem"
bench_dnsmasq $dns_port 127.0.0.2
/usr/sbin/smtp-sink -u nobody -c 127.0.0.2:$sink_port 1000 > "$work/sink.out" & pids+=($!)

bench_config $rcv_port $dns_port $sink_port $metrics_port
"$root/mailer" run --global-config-file "$work/global.yaml" --customer-config-file "$work/customer.yaml" > "$work/mailer.log" 2>&1 & pids+=($!)
wait_port $rcv_port || { cat "$work/mailer.log" >&2; exit 1; }
bench_message "$work/message.eml" "$size"

cpu_of_mailer() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/${pids[2]}/stat" 2>/dev/null || echo 0; }
# Bytes the mailer allocated (dotnet_gc_allocated_bytes_total), read before and after: allocation per message is the
# figure behind the GC's share of the CPU.
allocated() { curl -s "http://127.0.0.1:$metrics_port/metrics" | awk '$1=="dotnet_gc_allocated_bytes_total"{print $2}'; }
idle_cpu=$(cpu_of_mailer)
idle_alloc=$(allocated)
start=$(date +%s.%N)
smtp-source -s "$sessions" -m "$messages" -F "$work/message.eml" -f bench@sender.test -t r@bench.test 127.0.0.1:$rcv_port
accepted=$(date +%s.%N)
# smtp-sink -c keeps printing "sess=N quit=N mesg=N"; wait until it has counted every message.
for _ in $(seq 1 6000); do
  sunk=$(grep -o 'mesg=[0-9]*' "$work/sink.out" | tail -n 1 | cut -d= -f2)
  [ "${sunk:-0}" -ge "$messages" ] && break
  sleep 0.05
done
done_at=$(date +%s.%N)
# The mailer's own CPU (user + system, all threads) for the whole run including start-up: the machine is shared,
# so this says more than the rates when something else is running.
mailer_cpu=$(cpu_of_mailer)
mailer_rss=$(awk '/VmHWM/{print $2}' "/proc/${pids[2]}/status" 2>/dev/null || echo 0)
mailer_alloc=$(allocated)
python3 - "$start" "$accepted" "$done_at" "$messages" "$sessions" "$size" "$idle_cpu" "$mailer_cpu" "$mailer_rss" "${idle_alloc:-0}" "${mailer_alloc:-0}" <<'PY'
import sys
start, accepted, done, n, s, size, idle, cpu, rss, alloc0, alloc1 = map(float, sys.argv[1:])
print(f"{int(n)} messages of ~{int(size)} bytes, {int(s)} sessions")
print(f"accepted: {n/(accepted-start):.0f} msg/s ({accepted-start:.2f} s)")
print(f"end to end (first accept to last arrival): {n/(done-start):.0f} msg/s ({done-start:.2f} s)")
print(f"mailer CPU: {cpu-idle:.2f} s for the messages ({1000*(cpu-idle)/n:.2f} ms per message) + {idle:.2f} s start-up, peak RSS {rss/1024:.0f} MB")
print(f"mailer allocation: {(alloc1-alloc0)/n/1024:.1f} KB per message (with the first messages' warm-up)")
PY
