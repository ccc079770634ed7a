#!/usr/bin/env bash
# The mailer's own cost per 1,000 messages, after a warm-up: CPU seconds of the mailer process (user + system, every
# thread), of redis-server on the Redis path, KB allocated per message, and the mailer's context switches per message
# (voluntary ones are wake-ups: a thread that blocked and was woken, the cost of each hop between threads). On a shared machine these hold still
# where msg/s and the machine CPU of bench/e2e.sh do not, so A/B builds with them, alternating runs:
#
#   bench/mailer-cpu.sh [embedded|redis] [messages] [size] [BUILD_DIR]   # BUILD_DIR: a copy of .mailer-build
#
# BENCH_PORT_OFFSET moves the ports, as in e2e.sh. Needs dnsmasq, postfix (smtp-sink, smtp-source), redis-server.
# BENCH_POSTGRES_PORT: a PostgreSQL on 127.0.0.1 at that port (user postgres, trusted; database mailer, or
# BENCH_POSTGRES_DATABASE) holds the suppression list and the other stores (events/store: postgresql), and the
# server's CPU and transactions per message are printed too (bench/README.md says how to start a private one).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
queue="${1:-embedded}"; messages="${2:-4000}"; size="${3:-5000}"; build="${4:-}"; warmup=500
case "$queue" in embedded|redis) ;; *) echo "queue must be embedded or redis" >&2; exit 2 ;; esac
if [ -z "$build" ]; then "$root/mailer" --help >/dev/null; build="$root/.mailer-build"; fi
work="$(mktemp -d /tmp/mm-cpu-XXXXXX)"; chmod 755 "$work"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

o=${BENCH_PORT_OFFSET:-0}
dns_port=$((25353 + o)); sink_port=$((25525 + o)); sut_port=$((25587 + o)); redis_port=$((26381 + o)); metrics_port=$((25590 + o))
source "$root/bench/lib.sh"
bench_dkim_key "$work/dkim.pem"
bench_dnsmasq $dns_port 127.0.0.2
/usr/sbin/smtp-sink -u nobody -c 127.0.0.2:$sink_port 1000 > "$work/sink.out" 2>&1 & pids+=($!)
redis_pid=""; redis_arg=0
if [ "$queue" = redis ]; then
  # As e2e.sh runs it: durable (appendfsync always).
  mkdir -p "$work/redis"
  redis-server --bind 127.0.0.1 --port $redis_port --dir "$work/redis" --save "" --appendonly yes --appendfsync always \
    --auto-aof-rewrite-min-size 1gb --protected-mode no --daemonize no --logfile "$work/redis/log" & redis_pid=$!; pids+=($!)
  wait_port $redis_port || { cat "$work/redis/log" >&2; exit 1; }
  redis_arg=$redis_port
fi
bench_config $sut_port $dns_port $sink_port $metrics_port $redis_arg
pg_port="${BENCH_POSTGRES_PORT:-}"; pg_db="${BENCH_POSTGRES_DATABASE:-mailer}"
if [ -n "$pg_port" ]; then
  echo "events: {store: postgresql, postgresql: \"Host=127.0.0.1;Port=$pg_port;Database=$pg_db;Username=postgres\"}" >> "$work/customer.yaml"
fi
MAILER_LOG_LEVEL=WARNING dotnet "$build/mailer.dll" run --global-config-file "$work/global.yaml" \
  --customer-config-file "$work/customer.yaml" --queue "$queue" > "$work/mailer.log" 2>&1 & mailer_pid=$!; pids+=($!)
wait_port $sut_port || { cat "$work/mailer.log" >&2; exit 1; }
bench_message "$work/message.eml" "$size"

cpu_of() { [ -n "$1" ] && awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
switches() { # voluntary and involuntary context switches of every live thread of the process
  cat /proc/$1/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/{v+=$2} /^nonvoluntary_ctxt_switches/{n+=$2} END{print v+0, n+0}'; }
allocated() { curl -s "http://127.0.0.1:$metrics_port/metrics" | awk '$1=="dotnet_gc_allocated_bytes_total"{print $2}'; }
redis_figures() { # commands processed (each inside a script or MULTI counts), script and MULTI calls, AOF bytes
  [ -n "$redis_pid" ] || { echo "0 0 0"; return; }
  { redis-cli -p $redis_port INFO stats; redis-cli -p $redis_port INFO commandstats; redis-cli -p $redis_port INFO persistence; } | tr -d '\r' |
    awk -F'[:=,]' '/^total_commands_processed:/{c=$2} /^cmdstat_(eval|evalsha|fcall|exec):/{s+=$3} /^aof_current_size:/{a=$2} /^aof_rewrites:/{r=$2}
      END{print c+0, s+0, (r > 0 ? -1 : a+0)}'; } # -1: the file was rewritten (it grew past 1 GB), its growth is unknown
postgres_figures() { # the server's CPU seconds (postmaster and every backend) and the database's committed transactions
  [ -n "$pg_port" ] || { echo "0 0"; return; }
  local master cpu=0 p
  master=$(ss -ltnpH "sport = :$pg_port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
  for p in $master $(ps -o pid= --ppid "$master"); do cpu=$(awk -v c="$cpu" -v hz="$(getconf CLK_TCK)" '{print c + ($14 + $15) / hz}' "/proc/$p/stat" 2>/dev/null || echo "$cpu"); done
  echo "$cpu $(psql -h 127.0.0.1 -p "$pg_port" -U postgres -d "$pg_db" -Atc "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")"; }
inject() { smtp-source -s 20 -m "$1" -F "$work/message.eml" -f bench@sender.test -t r@bench.test 127.0.0.1:$sut_port; }

inject $warmup
bench_wait_sunk "$work/sink.out" $warmup 300 $mailer_pid $redis_pid >/dev/null
cpu0=$(cpu_of $mailer_pid); redis0=$(cpu_of "$redis_pid"); alloc0=$(allocated); read -r vol0 invol0 <<<"$(switches $mailer_pid)"; read -r cmd0 calls0 aof0 <<<"$(redis_figures)"; read -r pgcpu0 pgx0 <<<"$(postgres_figures)"; t0=$(date +%s.%N)
inject "$messages"
bench_wait_sunk "$work/sink.out" $((messages + warmup)) 1800 $mailer_pid $redis_pid >/dev/null
t1=$(date +%s.%N); cpu1=$(cpu_of $mailer_pid); redis1=$(cpu_of "$redis_pid"); alloc1=$(allocated); read -r vol1 invol1 <<<"$(switches $mailer_pid)"; read -r cmd1 calls1 aof1 <<<"$(redis_figures)"; read -r pgcpu1 pgx1 <<<"$(postgres_figures)"
python3 - "$queue" "$messages" "$size" "$cpu0" "$cpu1" "$redis0" "$redis1" "${alloc0:-0}" "${alloc1:-0}" "$t0" "$t1" "$vol0" "$vol1" "$invol0" "$invol1" "$cmd0" "$cmd1" "$calls0" "$calls1" "$aof0" "$aof1" "$pgcpu0" "$pgcpu1" "$pgx0" "$pgx1" "${pg_port:-0}" <<'PY'
import sys
queue, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c0, c1, r0, r1, a0, a1, t0, t1, v0, v1, i0, i1, k0, k1, s0, s1, f0, f1, p0, p1, x0, x1, pg = map(float, sys.argv[4:])
print(f"{queue} {n} x {size} B: mailer CPU {(c1 - c0) / n * 1000:.3f} s/1000, redis-server {(r1 - r0) / n * 1000:.3f} s/1000, "
      f"allocated {(a1 - a0) / n / 1024:.1f} KB/msg, context switches {(v1 - v0) / n:.1f} voluntary + {(i1 - i0) / n:.1f} involuntary per msg, "
      f"{n / (t1 - t0):.0f} msg/s end to end"
      + (f"; redis {(k1 - k0) / n:.1f} commands/msg ({(s1 - s0) / n:.2f} script or MULTI calls), "
         + ("AOF rewritten during the run" if min(f0, f1) < 0 else f"AOF {(f1 - f0) / n / 1024:.1f} KB/msg")
         if queue == "redis" else "")
      + (f"; postgres {(p1 - p0) / n * 1000:.3f} s/1000, {(x1 - x0) / n:.2f} transactions/msg" if pg else ""))
PY
