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

# The fleet example: its inventory parses, its vault opens, and each shape's
# variables resolve (debug runs on the controller; nothing connects).
fleet=examples/fleet
fleet_args=(-i "$fleet/inventory.yml" --vault-password-file "$fleet/example-vault-password")
ansible-playbook --syntax-check "${fleet_args[@]}" playbooks/site.yml >/dev/null
for host in ws-001.corp.example.com gpu-01.corp.example.com; do
  out=$(ansible "$host" "${fleet_args[@]}" -m ansible.builtin.debug -a \
    "msg={{ llmsec_ollama_deployment }}|{{ auth_gateway_audit_hmac_key | length }}|{{ auth_gateway_jwt_keys[0].public_key[:26] }}|{{ (model_integrity_lock_content | from_yaml).models | length }}|{{ model_integrity_store }}|{{ llmsec_rag_ingest | default(false) }}")
  echo "$out" | grep -q '"msg": "\(native\|container\)|64|-----BEGIN PUBLIC KEY-----|2|/' \
    || { echo "syntax: $fleet variables did not resolve for $host:" >&2; echo "$out" >&2; exit 1; }
done
echo "syntax: $fleet inventory, vault and group_vars ok"
