#!/usr/bin/env bash
# Install the Debian packages the test run calls, if any is missing:
# ShellCheck (ansible-test sanity lints our shell scripts with it) and
# debootstrap (test host images) and python3-seccomp (the seccomp unit tests and
# benchmark compare with libseccomp) and apparmor (the AppArmor unit tests compile
# every profile with apparmor_parser; nothing is loaded, this kernel has no AppArmor)
# and apt-cacher-ng (the package cache every
# test host downloads through), plus any package named as an argument
# (make bench: nginx, wrk). apt-get update only when something is missing.
# Services in those packages are not started on this machine (policy-rc.d).
set -euo pipefail
wanted=(shellcheck debootstrap python3-seccomp apparmor apt-cacher-ng "$@")
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get install -y -qq "${missing[@]}" >/dev/null
