#!/usr/bin/env bash
# Build the collection tarball and prove it ships no test material.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.build/dist
rm -rf "$out" && mkdir -p "$out"
ansible-galaxy collection build --force --output-path "$out" . >/dev/null
tarball=$(ls "$out"/llmsec-hardening-*.tar.gz)
echo "build: $tarball ($(du -h "$tarball" | cut -f1))"
listing=$(tar -tzf "$tarball")
leaked=$(echo "$listing" | grep -E '^(tests|molecule|\.venv|\.build|\.ci|\.config)/|/__pycache__/|ollama_standin' || true)
if [ -n "$leaked" ]; then
  echo "build: the tarball holds files that must not ship:" >&2
  echo "$leaked" | head -20 >&2
  exit 1
fi
for required in MANIFEST.json FILES.json meta/runtime.yml roles/ollama_bind/tasks/main.yml \
    plugins/modules/systemd_environment.py; do
  echo "$listing" | grep -qx "$required" || { echo "build: $required missing from $tarball" >&2; exit 1; }
done
