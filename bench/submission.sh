#!/usr/bin/env bash
# Submission throughput: smtp-source → receiver role alone (trusted network, no AUTH) → embedded spool.
# Measures what the SMTP server plus a durable enqueue sustain; nothing is delivered.
# Usage: bench/submission.sh [messages] [sessions] [body-lines-of-77-bytes]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
messages="${1:-20000}"; sessions="${2:-50}"; lines="${3:-12}"
work="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

rcv_port=12588
cat > "$work/global.yaml" <<CONF
reliable-queue: {queue-names: {primary-queue: P0, default-queue: P1}}
backdata: {queue-name: EVENTS}
postfix: {incoming-queue-name: OUT}
CONF
cat > "$work/customer.yaml" <<CONF
storage: {path: $work/data}
receiver:
  bind: {inet-interface: 127.0.0.1, inet-port: $rcv_port}
  trusted-networks: [127.0.0.0/8]
  max-sessions-per-client: 1000
  prometheus: {inet-interface: 127.0.0.1, inet-port: 19588}
CONF
"$root/mailer" run --roles receiver --global-config-file "$work/global.yaml" --customer-config-file "$work/customer.yaml" > "$work/mailer.log" 2>&1 & pids+=($!)
for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/$rcv_port) 2>/dev/null && break; sleep 0.2; done

{
  printf 'From: bench@sender.test\nTo: r@bench.test\nSubject: bench\nX-Uuid: bench1\n\n'
  for _ in $(seq 1 "$lines"); do printf '%076d\n' 0 | tr '0' 'x'; done
} > "$work/message.eml"  # LF: smtp-source -F appends CRLF to every line itself
size=$(wc -c < "$work/message.eml")

start=$(date +%s.%N)
smtp-source -s "$sessions" -m "$messages" -F "$work/message.eml" -f bench@sender.test -t r@bench.test 127.0.0.1:$rcv_port
done_at=$(date +%s.%N)
queued=$(curl -s http://127.0.0.1:19588/metrics | awk '/^(default|primary)_queue_messages /{s+=$2} END{print s+0}')
python3 - "$start" "$done_at" "$messages" "$sessions" "$size" "$queued" <<'PY'
import sys
start, done, n, s, size, queued = map(float, sys.argv[1:])
print(f"{int(n)} messages of {int(size)} bytes, {int(s)} concurrent sessions")
print(f"accepted: {n/(done-start):.0f} msg/s ({done-start:.2f} s); in the spool: {int(queued)}")
PY
