#!/usr/bin/env bash
# Print the path of a promtool (or, with the argument alertmanager, of an Alertmanager) for tests that run on the
# controller: the VM scenario evaluates the monitoring role's alert rules against the counters its kernel
# produced; a unit test gossips two Alertmanagers with the cluster settings of monitoring_server. They are
# Debian's, from the prometheus (prometheus-alertmanager) package unpacked into a cache - never installed, so
# nothing starts on this machine - and downloaded through the test package cache (apt-cacher-ng on port 3150)
# when that answers.
set -euo pipefail
cache=${LLMSEC_PROMTOOL_CACHE:-/var/cache/llmsec-promtool}
case ${1:-promtool} in
  promtool) package=prometheus; binary=promtool ;;
  alertmanager) package=prometheus-alertmanager; binary=prometheus-alertmanager ;;
  *) echo "promtool.sh: promtool or alertmanager, not $1" >&2; exit 2 ;;
esac
tool=$cache/usr/bin/$binary
if [ ! -x "$tool" ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  proxy=()
  if (exec 3<>/dev/tcp/127.0.0.1/3150) 2>/dev/null; then
    proxy=(-o Acquire::http::Proxy=http://127.0.0.1:3150)
  fi
  download() { (cd "$scratch" && apt-get download -qq "${proxy[@]}" "$package" >/dev/null 2>&1); }
  download || { apt-get update -qq "${proxy[@]}" && download; } || {
    echo "promtool.sh: cannot download Debian's $package package" >&2; exit 1; }
  dpkg-deb -x "$scratch/${package}"_*.deb "$scratch/root"
  if [ "$binary" = prometheus-alertmanager ]; then
    # Debian's build reads its notification templates from /usr/share/prometheus/alertmanager (the test runs it
    # in a mount namespace where that path is this copy).
    mkdir -p "$cache/usr/share/prometheus"
    cp -a "$scratch/root/usr/share/prometheus/alertmanager" "$cache/usr/share/prometheus/"
  fi
  install -D -m 0755 "$scratch/root/usr/bin/$binary" "$tool.tmp.$$"
  mv -f "$tool.tmp.$$" "$tool"
fi
echo "$tool"
