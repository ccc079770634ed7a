#!/usr/bin/env bash
# End-to-end benchmark: the same workload through Manycore Mail (embedded spool), Manycore Mail on Redis and
# Postfix + OpenDKIM, side by side in one run, on loopback. See bench/README.md.
#
#   bench/e2e.sh                    # every system, both workloads (20,000 × 5 KB and 5,000 × 100 KB, concurrency 20)
#   bench/e2e.sh --quick            # 2,000 × 5 KB and 500 × 100 KB
#   bench/e2e.sh --systems manycore-redis,postfix   # a subset (manycore, manycore-redis, postfix)
#   bench/e2e.sh --warmup 0         # no warm-up (default: 500 messages through each system before measuring)
#   bench/e2e.sh --workload 5000:100000:20   # count:size:concurrency instead of the defaults (repeatable)
#   bench/e2e.sh --html 10 --systems manycore,manycore-tracking   # HTML messages with 10 links; tracking off and on
#   bench/e2e.sh --hog 3            # "a slow day": 3 busy loops compete for the CPUs throughout (openssl speed, taken
#                                   # under them too, then shows how slow the day is); machine CPU leaves them out
#   bench/e2e.sh --build /tmp/build-a --systems manycore   # another build of the mailer (a copy of .mailer-build, e.g.
#                                   # of an older commit) in the same harness, for before/after pairs on one day
#   bench/e2e.sh --steal 50         # "a slow day" as a cloud VM has it: a neighbour takes 50% of every CPU (5 ms of
#                                   # each 10, real-time priority, one pinned per CPU), so every thread of every system
#                                   # runs at half speed whatever the number of threads; machine CPU leaves it out
#
# Writes bench/results/e2e-<UTC time>.md and .json. Needs: dnsmasq, postfix (smtp-sink, smtp-source and the
# daemon), opendkim, openssl, redis-server (apt-get install dnsmasq postfix opendkim opendkim-tools redis-server).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
systems="manycore,manycore-redis,postfix"
# Both systems get the same unmeasured warm-up: a long-running MTA is measured, not its first second (JIT for
# Manycore Mail; process start-up, milter connections and caches for Postfix).
warmup=500
hogs=0
steal=0
build=""
workloads=("20000 5000 20" "5000 100000 20")
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) workloads=("2000 5000 20" "500 100000 20") ;;
    --systems) systems="$2"; shift ;;
    --warmup) warmup="$2"; shift ;;
    --build) build="$2"; shift
      [ -f "$build/mailer.dll" ] || { echo "--build: $build has no mailer.dll" >&2; exit 2; } ;;
    --html) html_links="$2"; shift ;;
    --hog) hogs="$2"; shift ;;
    --steal) steal="$2"; shift
      [[ "$steal" =~ ^[0-9]+$ ]] && [ "$steal" -ge 1 ] && [ "$steal" -le 90 ] || { echo "--steal takes a percentage, 1 to 90" >&2; exit 2; } ;;
    --workload)
      [ -n "${custom:-}" ] || { workloads=(); custom=1; }
      workloads+=("${2//:/ }"); shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

# Without its milter Postfix answers every message 451 and the run would wait half an hour for mail that never comes.
if [[ ",$systems," == *",postfix,"* ]] && ! PATH="$PATH:/usr/sbin" command -v opendkim >/dev/null; then
  echo "postfix is measured with OpenDKIM, which is not installed (apt-get install opendkim opendkim-tools)" >&2; exit 2
fi
work="$(mktemp -d /tmp/mm-bench-XXXXXX)"; chmod 755 "$work"
pids=()
hog_pids=()
redis_pid=""
cleanup() {
  for p in $redis_pid "${pids[@]}" "${hog_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/pf/conf/main.cf" ] && postfix -c "$work/pf/conf" stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# BENCH_PORT_OFFSET moves every port, so that two runs (say, two worktrees) do not clash.
o=${BENCH_PORT_OFFSET:-0}
dns_port=$((25353 + o)); sink_port=$((25525 + o)); sut_port=$((25587 + o)); redis_port=$((26381 + o))
metrics_port=$((25590 + o)); tracker_port=$((25581 + o))
sink_ip=127.0.0.2

# --- shared peers -------------------------------------------------------------------------------------------
source "$root/bench/lib.sh"
bench_dkim_key "$work/dkim.pem"
bench_dnsmasq $dns_port $sink_ip

start_sink() {
  : > "$work/sink.out"
  /usr/sbin/smtp-sink -u nobody -c $sink_ip:$sink_port 1000 > "$work/sink.out" 2>&1 &
  sink_pid=$!
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/$sink_ip/$sink_port) 2>/dev/null && return; sleep 0.05; done
  echo "smtp-sink did not start" >&2; exit 1
}
sunk() { grep -o 'mesg=[0-9]*' "$work/sink.out" | tail -n 1 | cut -d= -f2; }
# The machine's busy time, less the hogs' (a slow day's neighbours are not part of any system's cost).
busy_jiffies() {
  local hog=0 p
  for p in "${hog_pids[@]}"; do hog=$((hog + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo $(( $(awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat) - hog ))
}

html_links="${html_links:-0}"
make_message() {
  if [ "$html_links" -gt 0 ]; then bench_html_message "$work/message-$1.eml" "$1" "$html_links"
  else bench_message "$work/message-$1.eml" "$1"; fi
}

# --- systems under test ---------------------------------------------------------------------------------------
start_manycore() { # [embedded|redis] [tracking]
  local redis=0
  [ "${1:-embedded}" = redis ] && redis=$redis_port
  bench_config $sut_port $dns_port $sink_port $metrics_port $redis
  if [ "${2:-}" = tracking ]; then
    # Opens, clicks and one-click unsubscribe: every message is rewritten and signed per recipient.
    cat >> "$work/customer.yaml" <<CONF
tracking:
  bind: {inet-interface: 127.0.0.1, inet-port: $tracker_port}
  base-url: https://t.sender.test
  secrets: ["bench tracking secret 0123456789"]
CONF
  fi
  rm -rf "$work/mm-data"
  MAILER_LOG_LEVEL=WARNING dotnet "$build/mailer.dll" run --global-config-file "$work/global.yaml" \
    --customer-config-file "$work/customer.yaml" --queue "${1:-embedded}" > "$work/mailer.log" 2>&1 &
  sut_pids="$!"
  wait_port $sut_port || { cat "$work/mailer.log" >&2; exit 1; }
}
stop_manycore() { kill $sut_pids 2>/dev/null || true; wait $sut_pids 2>/dev/null || true; }
start_manycore-tracking() { start_manycore embedded tracking; }
stop_manycore-tracking() { stop_manycore; }

# Redis as documented for production (docs/configuration.md): AOF with appendfsync always, so an answered 250
# survives a crash of Redis as the embedded spool's group commit and Postfix's queue files do; the AOF is
# rewritten from 1 GB on instead of every 64 MB.
start_manycore-redis() {
  rm -rf "$work/redis"; mkdir -p "$work/redis"
  redis-server --bind 127.0.0.1 --port $redis_port --dir "$work/redis" --save "" --appendonly yes \
    --appendfsync always --auto-aof-rewrite-min-size 1gb --protected-mode no --daemonize no --logfile "$work/redis/log" \
    ${BENCH_REDIS_ARGS:-} &
  redis_pid=$!
  wait_port $redis_port || { cat "$work/redis/log" >&2; exit 1; }
  start_manycore redis
}
stop_manycore-redis() { # the documented stop order: the mailer (it drains), then Redis
  stop_manycore
  kill $redis_pid 2>/dev/null || true; wait $redis_pid 2>/dev/null || true
  redis_pid=""
}

start_postfix() {
  local pf="$work/pf"
  rm -rf "$pf"; mkdir -p "$pf/conf" "$pf/queue" "$pf/data" "$pf/milter"
  chown postfix "$pf/data"; chmod 711 "$pf/milter"
  cp "$work/dkim.pem" "$pf/milter/key.pem"
  cat > "$pf/conf/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
meta_directory = /etc/postfix
maillog_file = $pf/maillog
maillog_file_prefixes = $pf
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = bench-postfix.test
mydestination =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
# Postfix cannot be pointed at our DNS port, so it relays straight to the sink: no MX lookup for it.
relayhost = [$sink_ip]:$sink_port
smtp_tls_security_level = none
alias_maps =
alias_database =
smtpd_milters = unix:$pf/milter/opendkim.sock
milter_default_action = tempfail
CONF
  cat > "$pf/conf/master.cf" <<'CONF'
SMTPD_BIND inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CONF
  sed -i "s/^SMTPD_BIND/127.0.0.1:$sut_port/" "$pf/conf/master.cf"
  cat > "$pf/milter/opendkim.conf" <<CONF
Syslog no
Mode s
Domain sender.test
Selector mailer
KeyFile $pf/milter/key.pem
Canonicalization relaxed/relaxed
SignatureAlgorithm rsa-sha256
Socket local:$pf/milter/opendkim.sock
UMask 000
RequireSafeKeys no
UserID root
Background no
CONF
  opendkim -x "$pf/milter/opendkim.conf" -f > "$pf/milter/opendkim.log" 2>&1 &
  sut_pids="$!"
  for _ in $(seq 1 100); do [ -S "$pf/milter/opendkim.sock" ] && break; sleep 0.05; done
  postfix -c "$pf/conf" start >/dev/null 2>&1 || { cat "$pf/maillog" >&2; exit 1; }
  wait_port $sut_port || { cat "$pf/maillog" >&2; exit 1; }
}
stop_postfix() {
  postfix -c "$work/pf/conf" stop >/dev/null 2>&1 || true
  kill $sut_pids 2>/dev/null || true; wait $sut_pids 2>/dev/null || true
  for _ in $(seq 1 100); do pgrep -f "$work/pf/conf" >/dev/null || break; sleep 0.1; done
}

# Resident memory of the system under test, in kB (Postfix: every postfix-owned process plus opendkim; Manycore
# Mail on Redis: the mailer plus redis-server, which holds the queued messages).
rss_kb() {
  local a b
  case "$1" in
    manycore|manycore-tracking) awk '/VmRSS/{print $2}' /proc/$sut_pids/status 2>/dev/null || echo 0 ;;
    manycore-redis)
      a=$(awk '/VmRSS/{print $2}' /proc/$sut_pids/status 2>/dev/null || echo 0)
      b=$(awk '/VmRSS/{print $2}' /proc/$redis_pid/status 2>/dev/null || echo 0)
      echo $((a + b)) ;;
    postfix)
      a=$(ps -o rss= -u postfix 2>/dev/null | awk '{s+=$1} END{print s+0}')
      b=$(awk '/VmRSS/{print $2}' /proc/$sut_pids/status 2>/dev/null || echo 0)
      echo $((a + b)) ;;
  esac
}

# Accept-to-delivery latency: a snapshot before and after the measured run, so that the warm-up does not count.
# Manycore Mail: its accept_to_delivery_seconds histogram. Postfix: the delay= of every status=sent line of its
# maillog from the line the snapshot names on (time from arrival to the sink's 250, as Postfix measures it).
latency_snapshot() { # system file
  case "$1" in
    manycore|manycore-redis|manycore-tracking)
      # The stages' histograms go beside it (bench/latency.py's STAGES), so a run says where its latency went.
      curl -s "http://127.0.0.1:$metrics_port/metrics" > "$2.all" || true
      grep '^accept_to_delivery_seconds_bucket' "$2.all" > "$2" || true
      grep -E '^(transformer_queue_wait|transformer_process|sender_queue_wait|sender_delivery)_seconds_bucket' "$2.all" > "$2.stages" || true ;;
    postfix) wc -l < "$work/pf/maillog" > "$2" ;;
  esac
}
latency_values() { # system before after-file: what the measured run added, in the form latency.py reads
  case "$1" in
    manycore|manycore-redis|manycore-tracking) latency_snapshot "$1" "$3" ;;
    postfix) tail -n +$(( $(cat "$2") + 1 )) "$work/pf/maillog" | grep -o 'status=sent\|delay=[0-9.]*' \
               | awk '/^delay=/{d=substr($0,7)} /^status=sent/{print d}' > "$3" ;;
  esac
}

# --- run ----------------------------------------------------------------------------------------------------
for system in ${systems//,/ }; do
  case "$system" in manycore|manycore-redis|manycore-tracking|postfix) ;; *) echo "unknown system $system" >&2; exit 2 ;; esac
done
if [ -z "$build" ]; then
  build="$root/.mailer-build"
  if [[ ",$systems," == *",manycore"* ]]; then "$root/mailer" --help >/dev/null; fi
fi
hz=$(getconf CLK_TCK)
for _ in $(seq 1 "$hogs"); do sh -c 'while :; do :; done' & hog_pids+=($!); done
if [ "$steal" -gt 0 ]; then
  # Steal time: on each CPU a SCHED_FIFO loop pinned there is busy for $steal% of every 10 ms and asleep otherwise. It
  # preempts whatever runs on that CPU, so each thread of each system loses the same share, unlike --hog, where the
  # kernel shares the CPUs per runnable thread. (Real-time tasks are capped at 95% of a CPU by the kernel anyway.)
  for cpu in $(seq 0 $(( $(nproc) - 1 ))); do
    python3 -c '
import os, sys, time
cpu, share, period = int(sys.argv[1]), int(sys.argv[2]) / 100, 0.010
os.sched_setaffinity(0, {cpu})
os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
due = time.monotonic()
while True:
    end = due + period * share
    while time.monotonic() < end: pass
    due += period
    rest = due - time.monotonic()
    if rest > 0: time.sleep(rest)
    else: due = time.monotonic()
' "$cpu" "$steal" & hog_pids+=($!)
  done
  sleep 0.2
  for p in "${hog_pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "--steal needs root (SCHED_FIFO) and python3" >&2; exit 1; }; done
fi
results="$work/results.jsonl"; : > "$results"
for workload in "${workloads[@]}"; do
  read -r count size concurrency <<<"$workload"
  make_message "$size"
  for system in ${systems//,/ }; do
    echo "== $system: $count messages of $size bytes, concurrency $concurrency" >&2
    sync # every system starts on a quiet disk
    start_sink
    "start_$system"
    if [ "$warmup" -gt 0 ]; then
      smtp-source -s "$concurrency" -m "$warmup" -F "$work/message-$size.eml" -f bench@sender.test -t r@bench.test 127.0.0.1:$sut_port
      bench_wait_sunk "$work/sink.out" "$warmup" 300 $sut_pids $redis_pid >/dev/null || true
    fi
    latency_snapshot "$system" "$work/latency.before"
    peak=0
    ( while sleep 0.2; do rss_kb "$system"; done ) > "$work/rss.log" 2>/dev/null & sampler=$!
    cpu0=$(busy_jiffies); t0=$(date +%s.%N)
    smtp-source -s "$concurrency" -m "$count" -F "$work/message-$size.eml" -f bench@sender.test -t r@bench.test 127.0.0.1:$sut_port
    t1=$(date +%s.%N)
    # Until the sink has everything; give up when the system under test died or after 30 minutes.
    if ! bench_wait_sunk "$work/sink.out" $((count + warmup)) 1800 $sut_pids $redis_pid >/dev/null; then
      for p in $sut_pids $redis_pid; do
        kill -0 "$p" 2>/dev/null || { echo "$system died; see $work" >&2; tail -n 20 "$work"/mailer.log "$work"/redis/log "$work"/pf/maillog 2>/dev/null >&2; exit 1; }
      done
    fi
    t2=$(date +%s.%N); cpu1=$(busy_jiffies)
    kill $sampler 2>/dev/null || true; wait $sampler 2>/dev/null || true
    peak=$(sort -n "$work/rss.log" | tail -n 1)
    got=$(( $(sunk) - warmup ))
    latency_values "$system" "$work/latency.before" "$work/latency.after"
    "stop_$system"
    kill $sink_pid 2>/dev/null || true; wait $sink_pid 2>/dev/null || true
    # This system's queue files and logs (up to a gigabyte of Redis AOF) go, rather than being left for the
    # kernel to write back while the next system is measured.
    rm -rf "$work/mm-data" "$work/redis" "$work/pf/queue"
    python3 - "$system" "$count" "$size" "$concurrency" "$t0" "$t1" "$t2" "$cpu0" "$cpu1" "$hz" "${peak:-0}" "${got:-0}" \
      "$work/latency.before" "$work/latency.after" "$root/bench/latency.py" >> "$results" <<'PY'
import json, runpy, sys
system, count, size, conc, t0, t1, t2, c0, c1, hz, peak, got, lat0, lat1, latency = sys.argv[1:]
latency = runpy.run_path(latency)
percentiles = latency["percentiles"](system, lat0, lat1)
stages = latency["stages"](lat0 + ".stages", lat1 + ".stages") if system != "postfix" else {}
count, size, conc, got = int(count), int(size), int(conc), int(got)
t0, t1, t2 = float(t0), float(t1), float(t2)
cpu = (int(c1) - int(c0)) / int(hz)
print(json.dumps({"system": system, "messages": count, "size": size, "concurrency": conc, "delivered": got,
  "accepted_per_s": round(count / (t1 - t0), 1), "end_to_end_per_s": round(got / (t2 - t0), 1),
  "seconds": round(t2 - t0, 2), "peak_rss_mb": round(int(peak) / 1024, 1),
  "machine_cpu_s_per_1000": round(cpu / max(got, 1) * 1000, 2),
  "p50_ms": percentiles.get("p50_ms"), "p99_ms": percentiles.get("p99_ms"),
  **({"stages": stages} if stages else {})}))
PY
  done
done

# openssl speed divides by its own CPU time unless told otherwise: beside the hogs, wall-clock time says how slow the day is.
rsa=$(openssl speed -seconds 3 $([ "$hogs" -gt 0 ] || [ "$steal" -gt 0 ] && echo -elapsed) rsa2048 2>/dev/null | awk '/^rsa 2048/{print $6}')
mkdir -p "$root/bench/results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
other_build=""; [ "$build" = "$root/.mailer-build" ] || other_build="$build"
python3 - "$results" "$rsa" "$root/bench/results/e2e-$stamp" "$warmup" "$hogs" "$steal" "$other_build" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rsa, out, warmup, hogs, steal, other_build = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
base = {(r["messages"], r["size"]): r for r in rows if r["system"] == "postfix"}
lines = ["| system | messages × size | accepted msg/s | end-to-end msg/s | × Postfix (e2e) | p50 / p99 accept→delivery ms | peak RSS MB | machine CPU s / 1000 msgs |",
         "|---|---|---|---|---|---|---|---|"]
for r in rows:
    b = base.get((r["messages"], r["size"]))
    ratio = f'{r["end_to_end_per_s"] / b["end_to_end_per_s"]:.2f}' if b and b["end_to_end_per_s"] else "-"
    latency = f'{r["p50_ms"]} / {r["p99_ms"]}' if r.get("p50_ms") is not None else "-"
    lines.append(f'| {r["system"]} | {r["messages"]} × {r["size"]} B | {r["accepted_per_s"]} | {r["end_to_end_per_s"]} | {ratio} | {latency} | {r["peak_rss_mb"]} | {r["machine_cpu_s_per_1000"]} |')
lines.append("")
lines.append(f"openssl speed rsa2048 (one core): {rsa} signs/s. Machine CPU includes smtp-source and smtp-sink. "
             "Peak RSS of manycore-redis is the mailer plus redis-server (AOF, appendfsync always). "
             "Postfix relays straight to the sink (no MX lookup); Manycore Mail looks the MX up through dnsmasq. "
             "Latency percentiles are estimated within the buckets of Manycore Mail's accept_to_delivery_seconds histogram; "
             "Postfix's delay= values from its maillog are put in the same buckets, so both are estimated alike. "
             + (f"Each system first took {warmup} unmeasured messages of the same workload (warm-up)." if warmup else "No warm-up (cold start).")
             + (f" A slow day: {hogs} busy loops competed for the CPUs throughout (openssl speed was taken under them too, "
                "in wall-clock time); machine CPU leaves them out." if hogs else "")
             + (f" A slow day: a neighbour took {steal}% of every CPU throughout (steal time: a real-time loop pinned to each "
                "CPU; openssl speed was taken under it too, in wall-clock time); machine CPU leaves it out." if steal else "")
             + (f" Manycore Mail ran from the build in {other_build}, not this tree's." if other_build else ""))
text = "\n".join(lines)
open(out + ".md", "w").write(text + "\n")
json.dump({"rsa2048_signs_per_s": float(rsa or 0), "warmup_messages": warmup, "cpu_hogs": hogs, "cpu_steal_percent": steal, "vcpus": os.cpu_count(),
           **({"mailer_build": other_build} if other_build else {}), "results": rows}, open(out + ".json", "w"), indent=2)
print(text)
PY
