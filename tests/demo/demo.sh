#!/usr/bin/env bash
# make demo: a throwaway Debian host runs Ollama (the stand-in) exposed on
# 0.0.0.0; a second container reaches it; playbooks/site.yml hardens the
# host; the second container no longer reaches it. Prints before/after.
#   tests/demo/demo.sh          run (and clean up, unless LLMSEC_DEMO_KEEP=1)
#   tests/demo/demo.sh down     remove what a kept demo left running
set -euo pipefail
cd "$(dirname "$0")/../.."

NET=llmsec-demo
HOST=llmsec-demo-host
PROBE=llmsec-demo-probe
IMAGE=llmsec/debian12:latest

down() {
  docker rm -f "$HOST" "$PROBE" >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
}

if [ "${1:-}" = down ]; then
  down
  echo "demo: removed $HOST, $PROBE and network $NET"
  exit 0
fi

posture() {  # $1 = label
  local reach listeners env
  if docker exec "$PROBE" curl -s -m 3 -o /dev/null "http://$HOST:11434/api/version"; then
    reach="REACHABLE from $PROBE (no authentication)"
  else
    reach="not reachable from $PROBE"
  fi
  listeners=$(docker exec "$HOST" ss -Hltn 'sport = :11434' | awk '{print $4}' | paste -sd, -)
  env=$(docker exec "$HOST" systemctl show ollama -p Environment --value | tr ' ' '\n' | grep -E '^OLLAMA_(HOST|ORIGINS)=' | paste -sd' ' -)
  firewall=$(docker exec "$HOST" sh -c 'command -v ufw >/dev/null && ufw status | sed -n "s/^Status: //p" || echo none')
  # as Ollama's user: once the firewall role ran, root's connections to the port on loopback are reset
  origin=$(docker exec -u ollama "$HOST" curl -s -o /dev/null -w '%{http_code}' -H 'Origin: https://evil.example.com' http://127.0.0.1:11434/api/version)
  # systemd's exposure score of ollama.service (0 best, 10 worst) and the kernel's view of the process
  sandbox=$(docker exec -e SYSTEMD_COLORS=0 "$HOST" sh -c 'score=$(systemd-analyze security --no-pager ollama | sed -n "s/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p")
    pid=$(systemctl show -p MainPID --value ollama)
    echo "$score, NoNewPrivs $(sed -n "s/^NoNewPrivs:\t//p" /proc/$pid/status)"')
  printf '%-7s| %-52s| %-16s| %-9s| %-19s| %-11s| %s\n' "$1" "$reach" "${listeners:-none}" "$firewall" "$sandbox" "$origin" "${env:-OLLAMA_HOST unset (default 127.0.0.1:11434)}"
}

trap '[ "${LLMSEC_DEMO_KEEP:-0}" = 1 ] || down' EXIT
down
echo "demo: starting a throwaway host ($HOST) and a probe ($PROBE) on network $NET"
docker network create "$NET" >/dev/null
# The systemd test host the scenarios use (molecule/shared/systemd_host.yml); the
# local_ai scan reads other users' /proc entries (SYS_PTRACE, DAC_READ_SEARCH).
mapfile -t host_args < <(python3 tests/harness/systemd_host.py SYS_PTRACE DAC_READ_SEARCH)
docker run -d --name "$HOST" --hostname "$HOST" --network "$NET" "${host_args[@]}" >/dev/null
docker run -d --name "$PROBE" --network "$NET" "$IMAGE" sleep infinity >/dev/null
for _ in $(seq 1 30); do
  state=$(docker exec "$HOST" systemctl is-system-running 2>/dev/null || true)
  case "$state" in running|degraded) break ;; esac
  sleep 1
done

echo "demo: installing Ollama (stand-in) the way users often run it: OLLAMA_HOST=0.0.0.0 in override.conf;"
echo "demo: pulling a model and approving it in /etc/llmsec/models.lock.yml"
ansible-playbook -i tests/demo/inventory.yml tests/demo/prepare.yml >.build/demo-prepare.log 2>&1 || {
  tail -n 30 .build/demo-prepare.log; exit 1; }
before=$(posture before)

audit() {  # $1 = before|after: the report of site.yml's own audit (playbooks/audit.yml, which changes nothing)
  python3 - "$1" ".build/demo-audit/$1/posture.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[2]))
for host in report["hosts"]:
    kinds = ", ".join(sorted({f["kind"] for f in host["findings"]})) or "no findings"
    print("audit %-6s| %s: posture score %s; %s" % (sys.argv[1], host["host"], host["score"], kinds))
PY
}

echo "demo: applying playbooks/site.yml (it audits the host before and after)"
start=$(date +%s)
rm -rf .build/demo-audit
ansible-playbook -i tests/demo/inventory.yml playbooks/site.yml -e "llmsec_site_report_dir=$PWD/.build/demo-audit" | tee .build/demo-site.log | grep -A1 '^PLAY RECAP' | tail -n 1 || true
grep -q 'failed=0' .build/demo-site.log || { echo "demo: site.yml failed (log: .build/demo-site.log)"; exit 1; }
after=$(posture after)
audit_before=$(audit before)
audit_after=$(audit after)

echo
echo "Posture of $HOST, port 11434 (probe = a second container on the same network)"
printf '%-7s| %-52s| %-16s| %-9s| %-19s| %-11s| %s\n' "" "API from the network" "listening on" "firewall" "systemd exposure" "bad Origin" "effective environment"
echo "$before"
echo "$after"
echo "site.yml took $(( $(date +%s) - start )) s"
echo
echo "playbooks/audit.yml, run by site.yml (reports in .build/demo-audit/before/ and after/: JSON, Markdown, JUnit)"
echo "$audit_before"
echo "$audit_after"
docker exec "$PROBE" mkdir -p /opt/pki
docker cp ".build/demo-pki/$HOST/ca.crt" "$PROBE:/opt/pki/ca.crt"
https_code() { docker exec "$PROBE" curl -s -m 5 --cacert /opt/pki/ca.crt -o /dev/null -w '%{http_code}' "$@" "https://$HOST/api/version"; }
echo "nginx_tls_proxy: https://$HOST/api/version from $PROBE (CA exported to .build/demo-pki): $(https_code) without credentials, $(https_code -u demo:demo-only-password) with"
docker exec "$PROBE" curl -s -m 20 --cacert /opt/pki/ca.crt -u demo:demo-only-password -o /dev/null \
  -d '{"model": "tiny:1b", "prompt": "What is in the quarterly report?", "stream": false}' "https://$HOST/api/generate"
audit_line=$(docker exec "$HOST" tail -n 1 /var/log/llmsec-gateway/audit.log)
echo "auth_gateway: a generate as demo, its audit line (prompt and answer as HMACs only):"
echo "  $audit_line"
case "$audit_line" in
  *'"endpoint":"/api/generate"'*'"response_hmac":'*'"subject":"demo"'*) ;;
  *) echo "demo: FAILED: the generate is not in the gateway's audit log"; exit 1 ;;
esac
grep -o '"msg": "[0-9]* blobs verified[^"]*"' .build/demo-site.log | sed 's/"msg": /model_integrity: /' || true

if docker exec "$PROBE" curl -s -m 3 -o /dev/null "http://$HOST:11434/api/version"; then
  echo "demo: FAILED: the API is still reachable from the network"
  exit 1
fi
if [ "${LLMSEC_DEMO_KEEP:-0}" = 1 ]; then
  echo "demo: kept running; 'make demo-down' removes it"
else
  echo "demo: done; the throwaway containers are removed (LLMSEC_DEMO_KEEP=1 keeps them)"
fi
