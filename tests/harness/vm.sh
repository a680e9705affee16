#!/usr/bin/env bash
# A Debian 12 VM for tests that need a real kernel (device-mapper, LUKS,
# reboots): the kernel under our containers has no device-mapper. qemu with
# TCG (KVM does not boot a stock kernel here), Debian's own kernel and initrd
# booted directly, a root disk made with `mkfs.ext4 -d` from a debootstrap
# tree (no loop mount needed), extra raw disks, and user networking with an
# SSH port forward on 127.0.0.1.
#
#   vm.sh build                  build the image (cached by a hash of this recipe)
#   vm.sh cached                 exit 0 when the image of this recipe is in the cache
#   vm.sh start NAME PORT [DISK_MB ...]   boot a VM with copy-on-write root and extra disks
#   vm.sh ssh PORT CMD...        run a command in it as root
#   vm.sh stop NAME              power it off and remove its disks
set -euo pipefail
cd "$(dirname "$0")/../.."

cache=${LLMSEC_VM_CACHE:-/var/cache/llmsec-vm}
runtime=.build/vm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=linux-image-amd64,openssh-server,python3,python3-apt,systemd-sysv,dbus,cryptsetup,e2fsprogs,ca-certificates,iproute2,sudo,apparmor,auditd
key=$cache/id_ed25519

# Bump when build() changes what goes into the image; start/stop changes do not need a rebuild.
recipe_version=2
hook=tests/harness/vm_zipimport_cache.py
recipe_hash() { echo "$recipe_version $mirror $packages $(sha256sum <"$hook")" | sha256sum | cut -c1-12; }

# A subshell, so that its EXIT trap (removing the scratch tree) fires when the
# build ends and cannot outlive it: a RETURN trap stayed set after build()
# and fired, with $root unset, when start() returned on a cold cache.
build() (
  local hash dir root debs
  hash=$(recipe_hash)
  dir=$cache/$hash
  if [ -f "$dir/root.img" ] && [ -f "$dir/vmlinuz" ] && [ -f "$dir/initrd.img" ]; then
    echo "vm: image $hash is up to date"
    return
  fi
  if ! command -v qemu-system-x86_64 >/dev/null || ! command -v debootstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-x86 qemu-utils debootstrap e2fsprogs >/dev/null
  fi
  mkdir -p "$cache"
  [ -f "$key" ] || ssh-keygen -q -t ed25519 -N '' -C llmsec-test-vm -f "$key"
  debs=${LLMSEC_DEB_CACHE:-/var/cache/llmsec-debootstrap}/bookworm
  mkdir -p "$debs"
  root=$(mktemp -d /var/tmp/llmsec-vmroot.XXXXXX)
  trap 'rm -rf "$root" "$root.log"' EXIT
  echo "vm: debootstrap bookworm with a kernel (a few minutes, once per recipe)"
  debootstrap --variant=minbase --cache-dir="$debs" --include="$packages" bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
    tail -n 30 "$root.log" >&2; exit 1; }
  rm -f "$root.log"
  echo llmsec-vm >"$root/etc/hostname"
  printf 'LABEL=llmsec-root / ext4 defaults 0 1\n' >"$root/etc/fstab"
  mkdir -p "$root/root/.ssh" "$root/etc/systemd/network"
  install -m 0600 "$key.pub" "$root/root/.ssh/authorized_keys"
  printf '[Match]\nName=e*\n[Network]\nDHCP=yes\n' >"$root/etc/systemd/network/20-wired.network"
  chroot "$root" systemctl enable systemd-networkd serial-getty@ttyS0 >/dev/null 2>&1
  chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer >/dev/null 2>&1
  printf 'PermitRootLogin prohibit-password\nUseDNS no\n' >"$root/etc/ssh/sshd_config.d/llmsec.conf"
  touch -d @0 "$root/var/lib/apt/lists"
  # Ansible's modules arrive as zips that Python compiles again on every task: cache their bytecode (see the file).
  install -m 0644 "$hook" "$root/usr/lib/python3/dist-packages/llmsec_zipimport_cache.py"
  echo 'import llmsec_zipimport_cache' >"$root/usr/lib/python3/dist-packages/llmsec-zipimport-cache.pth"
  mkdir -p "$dir.tmp"
  cp "$root"/boot/vmlinuz-* "$dir.tmp/vmlinuz"
  cp "$root"/boot/initrd.img-* "$dir.tmp/initrd.img"
  mkfs.ext4 -q -F -L llmsec-root -d "$root" "$dir.tmp/root.img" 3G >/dev/null
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  echo "vm: built image $hash"
)

image_dir() { echo "$cache/$(recipe_hash)"; }

start() {
  local name=$1 port=$2 dir vmdir i size
  shift 2
  build >/dev/null
  dir=$(image_dir)
  vmdir=$runtime/$name
  mkdir -p "$vmdir"
  qemu-img create -q -f qcow2 -F raw -b "$dir/root.img" "$vmdir/root.qcow2"
  # Root first, so that it is vda and the extra disks vdb, vdc, ...
  local drives=(-drive "file=$vmdir/root.qcow2,if=none,id=root,format=qcow2" -device "virtio-blk-pci,drive=root")
  i=0
  for size in "$@"; do
    i=$((i + 1))
    truncate -s "${size}M" "$vmdir/disk$i.raw"
    # The serial gives a stable name in the VM: /dev/disk/by-id/virtio-llmsec-disk$i
    drives+=(-drive "file=$vmdir/disk$i.raw,if=none,id=disk$i,format=raw"
             -device "virtio-blk-pci,drive=disk$i,serial=llmsec-disk$i")
  done
  qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -display none -daemonize \
    -pidfile "$vmdir/qemu.pid" -serial "file:$vmdir/console.log" \
    -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
    -append "root=LABEL=llmsec-root rw console=ttyS0 net.ifnames=0" \
    "${drives[@]}" \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0
  local started=$SECONDS
  until vm_ssh "$port" true 2>/dev/null; do
    if [ $((SECONDS - started)) -gt 300 ]; then
      echo "vm: $name did not answer on SSH within 300 s; console:" >&2
      tail -n 30 "$vmdir/console.log" >&2
      exit 1
    fi
    sleep 2
  done
  echo "vm: $name is up on 127.0.0.1:$port after $((SECONDS - started)) s"
}

vm_ssh() {
  local port=$1
  shift
  ssh -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o ServerAliveInterval=5 -o ServerAliveCountMax=3 \
    -i "$key" -p "$port" root@127.0.0.1 "$@"
}

stop() {
  local vmdir=$runtime/$1
  if [ -f "$vmdir/qemu.pid" ]; then
    kill "$(cat "$vmdir/qemu.pid")" 2>/dev/null || true
  fi
  rm -rf "$vmdir"
}

case "${1:-}" in
  build) build ;;
  cached) d=$cache/$(recipe_hash); [ -f "$d/root.img" ] && [ -f "$d/vmlinuz" ] && [ -f "$d/initrd.img" ] ;;
  start) shift; start "$@" ;;
  ssh) shift; vm_ssh "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: vm.sh build | start NAME PORT [DISK_MB ...] | ssh PORT CMD... | stop NAME" >&2; exit 2 ;;
esac
