#!/usr/bin/env bash
# ansible-test must run from .../ansible_collections/<ns>/<name>: copy the
# files git knows (tracked, or new and not ignored) there and run sanity.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=.build/sanity/ansible_collections/llmsec/hardening
rm -rf .build/sanity && mkdir -p "$dest"
git ls-files -co --exclude-standard -z | xargs -0 -I{} cp --parents -P {} "$dest"/ 2>/dev/null || {
  # In a checkout without git history the whole tree is the collection.
  rsync -a --exclude .venv --exclude .build --exclude .git ./ "$dest"/; }
cd "$dest"
# --venv: ansible-test makes its own virtualenvs with the pinned sanity tools.
ansible-test sanity --venv --python 3.11 --color no "$@"
