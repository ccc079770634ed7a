# Set-up shared by the benchmark scripts; sourced by them, not run. The caller has `work` (its temporary
# directory) and a `pids` array that its cleanup kills.

# bench_dkim_key FILE: a fresh RSA-2048 signing key.
bench_dkim_key() { openssl genrsa -out "$1" 2048 2>/dev/null; }

# bench_dnsmasq PORT SINK_IP: serves bench.test on 127.0.0.1:PORT with its MX at SINK_IP.
bench_dnsmasq() {
  cat > "$work/dnsmasq.conf" <<CONF
port=$1
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
local=/test/
# dnsmasq answers its own records with TTL 0 unless told otherwise; real MX records live for minutes to hours,
# and with TTL 0 every message would pay two DNS round trips that no production sender pays.
local-ttl=300
# Authoritative for the bench zone, so that "no AAAA record" comes with the zone's SOA as real servers answer it
# and can be cached (RFC 2308); without it every message would ask for the sink's AAAA again.
auth-server=ns.bench.test,127.0.0.1
auth-zone=bench.test
auth-ttl=300
mx-host=bench.test,mx.bench.test,10
host-record=mx.bench.test,$2
CONF
  /usr/sbin/dnsmasq --keep-in-foreground --user=root --conf-file="$work/dnsmasq.conf" & pids+=($!)
}

# wait_port [HOST] PORT: true once something accepts connections there (60 s at most).
wait_port() {
  local host=127.0.0.1
  if [ $# -gt 1 ]; then host="$1"; shift; fi
  for _ in $(seq 1 600); do (exec 3<>/dev/tcp/"$host"/"$1") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# bench_message FILE SIZE [SUBJECT]: a message of SIZE random bytes in base64 lines, with LF line ends
# (smtp-source -F sends each line with CRLF) and the headers the receiver requires.
bench_message() {
  {
    printf 'From: Bench <bench@sender.test>\nTo: r@bench.test\nSubject: %s\nMIME-Version: 1.0\n' "${3:-benchmark}"
    printf 'Content-Type: text/plain; charset=us-ascii\nX-Uuid: bench0123456789\n\n'
    head -c "$2" /dev/urandom | base64 -w 76
  } > "$1"
}

# bench_html_message FILE SIZE LINKS: an HTML message of about SIZE bytes with LINKS distinct https links (the
# tracking workload: each link is rewritten per recipient when tracking is on), LF line ends like bench_message.
bench_html_message() {
  {
    printf 'From: Bench <bench@sender.test>\nTo: r@bench.test\nSubject: benchmark html\nMIME-Version: 1.0\n'
    printf 'Content-Type: text/html; charset=utf-8\nX-Uuid: bench0123456789\n\n'
    printf '<html><head><title>Offer</title></head><body>\n'
    for i in $(seq 1 "$3"); do
      printf '<p><a href="https://shop.example.com/item/%d?utm_source=mail&amp;utm_campaign=bench">Item %d</a></p>\n' "$i" "$i"
    done
    # Filler paragraphs up to the size, in short lines.
    local filler=$(( $2 - 200 - 110 * $3 ))
    [ "$filler" -gt 0 ] && head -c $(( filler * 3 / 4 )) /dev/urandom | base64 -w 72 | sed 's|.*|<p>&</p>|'
    printf '</body></html>\n'
  } > "$1"
}

# bench_config RECEIVER_PORT DNS_PORT SMTP_PORT [METRICS_PORT [REDIS_PORT [SENDER_EXTRA]]]: global.yaml and
# customer.yaml for `mailer run` in $work: receiver from 127.0.0.0/8 without AUTH, DKIM for sender.test with
# $work/dkim.pem, the MX through dnsmasq, the spool in $work/mm-data; Prometheus on METRICS_PORT and queues on the
# Redis at REDIS_PORT when given (0 or empty: none); SENDER_EXTRA is more of the sender section (indented YAML lines).
# BENCH_RECEIVER_EXTRA (environment) is more of the receiver section, e.g. "  in-flow-delay-seconds: 0" for an A/B of a
# receiver setting with one build.
bench_config() {
  local metrics="" redis="" sender_extra="${6:-}" receiver_extra="${BENCH_RECEIVER_EXTRA:-}"
  [ -n "${4:-}" ] && [ "$4" != 0 ] && metrics="  prometheus: {inet-interface: 127.0.0.1, inet-port: $4}"
  # The first section with reliable-queue/redis names the server every role of the process uses; the receiver
  # and the transformer both carry it, as a split deployment would.
  [ -n "${5:-}" ] && [ "$5" != 0 ] && redis="  reliable-queue: {redis: {hostname: 127.0.0.1, port: $5}}"
  cat > "$work/global.yaml" <<CONF
reliable-queue: {queue-names: {primary-queue: IB-MAIL-QUEUE-P0, default-queue: IB-MAIL-QUEUE-P1}}
backdata: {queue-name: EVENT_QUEUE}
postfix: {incoming-queue-name: INCOMING-TO-POSTFIX}
CONF
  cat > "$work/customer.yaml" <<CONF
storage: {path: $work/mm-data}
receiver:
  bind: {inet-interface: 127.0.0.1, inet-port: $1}
  trusted-networks: [127.0.0.0/8]
$receiver_extra
$metrics
$redis
transformer:
$redis
  email-headers: {inject: {List-Unsubscribe: "<mailto:unsub-{{uuid}}@{{from-domain}}>"}}
  domain-settings:
    - {domain: sender.test, dkim-private-key-file: $work/dkim.pem, return-path-domain: returns.sender.test}
sender:
  dns-servers: ["127.0.0.1:$2"]
  smtp-port: $3
  helo-name: bench.sender.test
$sender_extra
CONF
}

# Waits until smtp-sink's count in FILE reaches TARGET (prints the count last read); fails when one of PIDS
# stops or after TIMEOUT seconds. One process that reads the file's tail every 50 ms: a shell loop forking grep,
# tail and cut twenty times a second took a tenth of this 2-core machine from the system it was measuring.
bench_wait_sunk() { # FILE TARGET TIMEOUT [PIDS...]
  python3 - "$@" <<'PY'
import os, re, sys, time
path, target, timeout, pids = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), [int(p) for p in sys.argv[4:] if p]
deadline, count = time.monotonic() + timeout, 0
def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
while True:
    with open(path, "rb") as f:
        f.seek(max(0, os.fstat(f.fileno()).st_size - 256))
        found = re.findall(rb"mesg=(\d+)", f.read())
    count = int(found[-1]) if found else count
    if count >= target:
        break
    dead = [p for p in pids if not alive(p)]
    if dead or time.monotonic() > deadline:
        print(count)
        sys.exit(1)
    time.sleep(0.05)
print(count)
PY
}
