#!/usr/bin/env bash
# Build a systemd-capable Debian test-host image with debootstrap and
# `docker import` it, because no container registry is reachable here.
# The image is tagged with a hash of this recipe and rebuilt only when the
# recipe changes.
#
# usage: build-image.sh <suite> <tag>       e.g. build-image.sh bookworm llmsec/debian12
set -euo pipefail

suite=${1:?usage: build-image.sh <suite> <tag>}
tag=${2:?usage: build-image.sh <suite> <tag>}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# What a test host needs: python3 for Ansible, systemd as PID 1, and the tools
# our roles and testinfra call (ss, ps, curl). Nothing role-specific.
packages=python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,procps,ca-certificates,curl,sudo,gnupg,netcat-openbsd

recipe_hash=$( { cat "$0" "$(dirname "$0")/apt-proxy-detect"; echo "$suite $mirror $packages"; } | sha256sum | cut -c1-12)
if docker image inspect "$tag:$recipe_hash" >/dev/null 2>&1; then
  docker tag "$tag:$recipe_hash" "$tag:latest"
  echo "build-image: $tag:$recipe_hash is up to date"
  exit 0
fi

command -v debootstrap >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

# Downloaded packages are kept (debootstrap checks them against the suite's lists), so
# a build from an empty image cache - every CI run's cold-path check - needs no download.
debs=${LLMSEC_DEB_CACHE:-/var/cache/llmsec-debootstrap}/$suite
mkdir -p "$debs"
root=$(mktemp -d /var/tmp/llmsec-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "build-image: debootstrap $suite into $root (a few minutes, once per recipe)"
debootstrap --variant=minbase --cache-dir="$debs" --include="$packages" "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -n 30 "$root.log" >&2; exit 1; }
rm -f "$root.log"

# Tidy the rootfs for container use: no getty on a console that is not there,
# no units that need real hardware, and an apt that stays small.
chroot "$root" systemctl mask \
  getty@tty1.service console-getty.service systemd-udevd.service \
  systemd-udevd-control.socket systemd-udevd-kernel.socket \
  systemd-modules-load.service sys-kernel-config.mount sys-kernel-debug.mount \
  systemd-remount-fs.service systemd-firstboot.service >/dev/null 2>&1
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
  >"$root/etc/apt/apt.conf.d/90llmsec-norecommends"
# Packages come through the test machine's cache when it answers (ensure-apt-cache.sh).
install -m 0755 "$(dirname "$0")/apt-proxy-detect" "$root/usr/local/bin/llmsec-apt-proxy-detect"
printf 'Acquire::http::Proxy-Auto-Detect "/usr/local/bin/llmsec-apt-proxy-detect";\n' \
  >"$root/etc/apt/apt.conf.d/01llmsec-package-cache"
rm -f "$root/etc/machine-id" && touch "$root/etc/machine-id"
echo "$tag" >"$root/etc/hostname"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# No package lists in the image: make them look ancient, so that the first
# apt task with cache_valid_time updates them (the apt module goes by mtime).
touch -d @0 "$root/var/lib/apt/lists"

# mktemp made the rootfs 0700; the tar's "./" entry carries that mode, and the
# vfs driver (Docker-in-Docker) applies it: non-root users could not exec anything.
chmod 0755 "$root"

tar -C "$root" -c . | docker import \
  --change 'ENV container=docker' \
  --change 'CMD ["/lib/systemd/systemd"]' \
  - "$tag:$recipe_hash" >/dev/null
docker tag "$tag:$recipe_hash" "$tag:latest"
echo "build-image: built $tag:$recipe_hash"
