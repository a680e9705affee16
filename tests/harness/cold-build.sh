#!/usr/bin/env bash
# The cold path, on every run: the VM image and a test-host image built from empty image
# caches, and the VM booted in the same process that built its image - the path every fresh
# machine takes and a warm machine never does (a RETURN trap left by the build once failed
# `make test` on every fresh machine, and only there). Packages come from the debootstrap
# cache, so this costs the build and the boot, not the download.
set -euo pipefail
cd "$(dirname "$0")/../.."

scratch=$(mktemp -d /var/tmp/llmsec-cold.XXXXXX)
port=${LLMSEC_COLD_VM_PORT:-22990}
# On a machine whose VM cache is empty (a fresh one) the build goes into the real cache: it is
# just as cold, and the VM scenario then boots it instead of building it a second time.
vm_cache=$scratch/vm
tests/harness/vm.sh cached || vm_cache=${LLMSEC_VM_CACHE:-/var/cache/llmsec-vm}
tag=llmsec/cold-check
cleanup() {
  LLMSEC_VM_CACHE=$vm_cache tests/harness/vm.sh stop llmsec-cold-vm || true
  docker image ls --format '{{.Repository}}:{{.Tag}}' "$tag" | xargs -r docker rmi -f >/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

started=$SECONDS
LLMSEC_VM_CACHE=$vm_cache tests/harness/vm.sh start llmsec-cold-vm "$port"
LLMSEC_VM_CACHE=$vm_cache tests/harness/vm.sh ssh "$port" 'cryptsetup --version >/dev/null && python3 -c "import apt, zipimport; assert zipimport._compile_source.__module__ == \"llmsec_zipimport_cache\""'
echo "cold-build: VM image built into an empty cache ($vm_cache) and booted in $((SECONDS - started)) s"

started=$SECONDS
tests/harness/build-image.sh bookworm "$tag"
docker run --rm "$tag:latest" python3 -c 'import apt' >/dev/null
echo "cold-build: test-host image built from an empty cache in $((SECONDS - started)) s"
