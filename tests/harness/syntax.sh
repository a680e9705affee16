#!/usr/bin/env bash
# ansible-playbook --syntax-check over every playbook, and over site.yml with a
# Windows inventory so that the Windows task files are parsed too.
set -euo pipefail
cd "$(dirname "$0")/../.."
for playbook in playbooks/*.yml; do
  ansible-playbook --syntax-check -i tests/demo/inventory.yml "$playbook" >/dev/null
  ansible-playbook --syntax-check -i tests/windows/inventory.yml "$playbook" >/dev/null
  echo "syntax: $playbook ok (Linux and Windows inventories)"
done
