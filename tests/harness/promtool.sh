#!/usr/bin/env bash
# Print the path of a promtool for tests that run on the controller (the VM scenario evaluates the monitoring
# role's alert rules against the counters its kernel produced). It is Debian's, from the prometheus package
# unpacked into a cache - never installed, so nothing starts on this machine - and downloaded through the test
# package cache (apt-cacher-ng on port 3150) when that answers.
set -euo pipefail
cache=${LLMSEC_PROMTOOL_CACHE:-/var/cache/llmsec-promtool}
tool=$cache/usr/bin/promtool
if [ ! -x "$tool" ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  proxy=()
  if (exec 3<>/dev/tcp/127.0.0.1/3150) 2>/dev/null; then
    proxy=(-o Acquire::http::Proxy=http://127.0.0.1:3150)
  fi
  download() { (cd "$scratch" && apt-get download -qq "${proxy[@]}" prometheus >/dev/null 2>&1); }
  download || { apt-get update -qq "${proxy[@]}" && download; } || {
    echo "promtool.sh: cannot download Debian's prometheus package" >&2; exit 1; }
  dpkg-deb -x "$scratch"/prometheus_*.deb "$scratch/root"
  install -D -m 0755 "$scratch/root/usr/bin/promtool" "$tool.tmp.$$"
  mv -f "$tool.tmp.$$" "$tool"
fi
echo "$tool"
