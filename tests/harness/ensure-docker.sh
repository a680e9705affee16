#!/usr/bin/env bash
# Make sure a Docker engine answers. No init system starts dockerd on the build
# machines, so install Debian's docker.io if needed and start dockerd ourselves.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "ensure-docker: installing Debian's docker.io" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl start docker || true
fi

if ! docker info >/dev/null 2>&1; then
  log=/var/log/llmsec-dockerd.log
  echo "ensure-docker: starting dockerd in the background (log: $log)" >&2
  # setsid: dockerd must outlive the make process that started it.
  setsid nohup dockerd >"$log" 2>&1 </dev/null &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
echo "ensure-docker: dockerd did not answer within 60 s; last log lines:" >&2
tail -n 20 /var/log/llmsec-dockerd.log >&2 || true
exit 1
