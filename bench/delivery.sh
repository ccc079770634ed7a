#!/usr/bin/env bash
# Delivery engine throughput: N messages already on the outbound queue, delivered by the sender alone to smtp-sink
# on loopback (MX found through dnsmasq). Reports messages per second and the connections used.
# Usage: bench/delivery.sh [messages] [size] [max-connections-per-site] [max-deliveries-per-connection]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
messages="${1:-5000}"; size="${2:-5000}"; connections="${3:-10}"; per_connection="${4:-100}"
work="$(mktemp -d)"; pids=()
cleanup() { [ -n "${DEBUG:-}" ] && tail -n 20 "$work"/*.log; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

dns_port=15363; sink_port=12535; rcv_port=12597; metrics_port=19391; fill_metrics_port=19392
source "$root/bench/lib.sh"
bench_dkim_key "$work/dkim.pem"
bench_dnsmasq $dns_port 127.0.0.2

bench_config $rcv_port $dns_port $sink_port $fill_metrics_port 0 "\
  max-concurrent-deliveries: 1000
  max-connections-per-site: $connections
  max-deliveries-per-connection: $per_connection
  prometheus: {inet-interface: 127.0.0.1, inet-port: $metrics_port}"

"$root/mailer" --help > /dev/null  # build first, so start-up waits below are about starting only
# Phase 1: receiver and transformer only, so the messages pile up on the outbound queue.
"$root/mailer" run --roles receiver,transformer --global-config-file "$work/global.yaml" --customer-config-file "$work/customer.yaml" > "$work/fill.log" 2>&1 & fill=$!; pids+=($fill)
wait_port $rcv_port || { cat "$work/fill.log" >&2; exit 1; }
bench_message "$work/message.eml" "$size"
smtp-source -s 20 -m "$messages" -F "$work/message.eml" -f bench@sender.test -t r@bench.test 127.0.0.1:$rcv_port
for _ in $(seq 1 6000); do
  queued=$(curl -s "http://127.0.0.1:$fill_metrics_port/metrics" | awk '$1=="queue_to_postfix_messages" {print int($2)}')
  [ "${queued:-0}" -ge "$messages" ] && break
  sleep 0.1
done
kill -TERM "$fill"; wait "$fill" 2>/dev/null || true

# Phase 2: the sender alone drains the queue into smtp-sink.
/usr/sbin/smtp-sink -u nobody -c 127.0.0.2:$sink_port 1000 > "$work/sink.out" & pids+=($!)
start=$(date +%s.%N)
"$root/mailer" run --roles sender --global-config-file "$work/global.yaml" --customer-config-file "$work/customer.yaml" > "$work/send.log" 2>&1 & pids+=($!)
for _ in $(seq 1 12000); do
  sunk=$(grep -o 'mesg=[0-9]*' "$work/sink.out" | tail -n 1 | cut -d= -f2 || true)
  [ "${sunk:-0}" -ge "$messages" ] && break
  sleep 0.05
done
done_at=$(date +%s.%N)
sessions=$(grep -o 'sess=[0-9]*' "$work/sink.out" | tail -n 1 | cut -d= -f2 || true)
opened=$(curl -s "http://127.0.0.1:$metrics_port/metrics" | awk '/^connections_opened_total/ {s+=$2} END {print int(s)}')
python3 - "$start" "$done_at" "$messages" "$size" "${sunk:-0}" "${sessions:-?}" "$opened" "$connections" "$per_connection" <<'PY'
import sys
start, done = float(sys.argv[1]), float(sys.argv[2])
n, size, sunk, sessions, opened, conns, per = sys.argv[3:]
print(f"{n} queued messages of ~{size} bytes; pool: {conns} connections per site, {per} deliveries per connection")
print(f"delivered {sunk} in {done-start:.2f} s (includes process start): {int(sunk)/(done-start):.0f} msg/s")
print(f"connections: {opened} opened by the sender, smtp-sink counted {sessions} sessions")
PY
