#!/usr/bin/env bash
# Make sure the package cache every test host downloads through answers: an
# apt-cacher-ng of our own on port 3150 of this machine (Debian's package, our
# configuration: a plain caching proxy, no mirror remapping). The test images find
# it at their Docker gateway (tests/harness/apt-proxy-detect, built into them) and
# go direct when it does not answer, so the roles still install every package for
# real; each package is downloaded once per machine instead of once per host.
# No init system runs here, so the daemon is started by hand, like dockerd.
set -euo pipefail
port=3150
conf=/var/lib/llmsec-apt-cache
cache=/var/cache/llmsec-apt-cache
logs=/var/log/llmsec-apt-cache

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
answers && exit 0

command -v apt-cacher-ng >/dev/null || "$(dirname "$0")/ensure-packages.sh"
echo "ensure-apt-cache: starting apt-cacher-ng on port $port (cache: $cache, logs: $logs)" >&2
install -d -o apt-cacher-ng -g apt-cacher-ng "$cache" "$logs" "$conf/run"
install -d "$conf/conf"
cat >"$conf/conf/acng.conf" <<CONF
# Written by tests/harness/ensure-apt-cache.sh
CacheDir: $cache
LogDir: $logs
SupportDir: /usr/lib/apt-cacher-ng
Port: $port
ExThreshold: 4
CONF
# setsid: the cache must outlive the make process that started it.
setsid start-stop-daemon --start --chuid apt-cacher-ng --exec /usr/sbin/apt-cacher-ng -- \
  -c "$conf/conf" pidfile="$conf/run/pid" SocketPath="$conf/run/socket" foreground=0 \
  </dev/null >/dev/null 2>&1 || true
for _ in $(seq 1 30); do
  answers && exit 0
  sleep 1
done
echo "ensure-apt-cache: apt-cacher-ng did not answer on port $port within 30 s" >&2
tail -n 20 "$logs/apt-cacher.err" >&2 2>/dev/null || true
exit 1
