#!/usr/bin/env bash
# A/B of two builds of the mailer with bench/mailer-cpu.sh: runs them in turn (A B B A A B ..., so neither always runs
# first after a pause) and prints every run, then each build's median and range. On this 2-vCPU machine two runs of the
# same build differ by up to ±12% in CPU per message, so one pair decides nothing; read the medians and whether the
# ranges overlap.
#
#   bench/mailer-ab.sh BUILD_A BUILD_B [embedded|redis] [pairs] [messages] [size]
#
# BUILD_A and BUILD_B are copies of .mailer-build (e.g. `cp -r .mailer-build /tmp/build-a` before a change, and the
# tree's own .mailer-build after it). Defaults: embedded, 3 pairs, 16,000 messages of 5,000 bytes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 2 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
a="$1"; b="$2"; queue="${3:-embedded}"; pairs="${4:-3}"; messages="${5:-16000}"; size="${6:-5000}"
for build in "$a" "$b"; do
  [ -f "$build/mailer.dll" ] || { echo "$build has no mailer.dll" >&2; exit 2; }
done
[[ "$pairs" =~ ^[1-9][0-9]*$ ]] || { echo "pairs must be a positive number" >&2; exit 2; }

runs="$(mktemp)"; trap 'rm -f "$runs"' EXIT
run() { # LABEL BUILD
  local line
  line=$("$root/bench/mailer-cpu.sh" "$queue" "$messages" "$size" "$2" | tail -n 1)
  echo "$1 $line" | tee -a "$runs"
}
for i in $(seq 1 "$pairs"); do
  if [ $((i % 2)) -eq 1 ]; then run A "$a"; run B "$b"; else run B "$b"; run A "$a"; fi
done

python3 - "$runs" "$a" "$b" <<'PY'
import re, statistics, sys
path, builds = sys.argv[1], {"A": sys.argv[2], "B": sys.argv[3]}
fields = {"mailer CPU s/1000": r"mailer CPU ([\d.]+)", "redis-server s/1000": r"redis-server ([\d.]+)",
          "KB allocated/msg": r"allocated ([\d.]+) KB", "msg/s": r"([\d.]+) msg/s"}
runs = {"A": [], "B": []}
for line in open(path):
    label, rest = line.split(" ", 1)
    runs[label].append({name: float(re.search(pattern, rest).group(1)) for name, pattern in fields.items()})
print()
for label, values in runs.items():
    print(f"{label} ({builds[label]}), {len(values)} runs:")
    for name in fields:
        column = [v[name] for v in values]
        print(f"  {name:20} median {statistics.median(column):9.3f}   range {min(column):.3f} - {max(column):.3f}")
PY
