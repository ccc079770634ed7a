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
