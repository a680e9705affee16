#!/usr/bin/env bash
# ansible-test must run from .../ansible_collections/<ns>/<name>, outside any
# other git checkout (it would ask that checkout's git for the file list).
# Copy the files git knows (tracked, or new and not ignored) to a temporary
# tree and run sanity there.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d /tmp/llmsec-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/llmsec/hardening
mkdir -p "$dest"
if git rev-parse --git-dir >/dev/null 2>&1; then
  # Not .collections: the link to the repo root that ansible.cfg names (ansible-test has its own tree).
  git ls-files -co --exclude-standard -z | grep -zv '^\.collections/' | xargs -0 cp --parents -P -t "$dest"/
else
  rsync -a --exclude .venv --exclude .build --exclude .collections ./ "$dest"/
fi
# ansible-test --venv bootstraps pip into its virtualenvs with a get-pip.py
# downloaded from a host that is not reachable here; give it a stand-in that
# uses ensurepip and PyPI instead, under the cache name it looks for.
pip_version=$(python3 -c 'import re,sys; print(re.search(r"pip=.([0-9.]+).", open(sys.argv[1]).read()).group(1))' \
  "$(python3 -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py"))')")
mkdir -p ~/.ansible/test/cache
install -m 0644 tests/harness/get_pip_standin.py ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
cd "$dest"
ansible-test sanity --venv --python 3.11 --color no "$@"
