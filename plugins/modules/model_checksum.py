#!/usr/bin/python
# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: model_checksum
short_description: Prove every model byte is the approved one (Ollama stores and plain model files)
version_added: 0.1.0
description:
  - For every manifest in an Ollama store (C(OLLAMA_MODELS)), re-hashes each layer and config blob and checks
    its digest and size. Ollama itself only hashes a blob while pulling it.
  - Compares the models with an approved lock (C(models.lock.yml)), and checks plain model files (GGUF,
    safetensors; LM Studio and llama.cpp layouts) against pinned sha256 values.
  - With O(mode=lock), writes the lock from the current store for a human to review and commit.
  - A digest must match C(^sha256[:-][0-9a-f]{64}$) before it becomes a path (CVE-2024-37032). Symlinks are
    never followed, nothing outside the store is opened, and only regular files are read.
  - Files are hashed in parallel, each read once, with constant memory.
seealso:
  - module: llmsec.hardening.local_ai_facts
  - plugin: llmsec.hardening.posture_report
    plugin_type: filter
author:
  - llmsec.hardening contributors (@llmsec)
extends_documentation_fragment:
  - llmsec.hardening.attributes
options:
  store:
    description: An Ollama models directory (the value of C(OLLAMA_MODELS)).
    type: path
  files:
    description: Plain model files to check, each with C(path) (absolute) and C(sha256).
    type: list
    elements: dict
  lock:
    description:
      - Path of the approved-model lock. Required for O(mode=lock), and for the approval check in O(mode=verify).
      - It is written as JSON, which is valid YAML.
    type: path
  policy:
    description:
      - V(enforce) fails on any mismatch, missing blob, invalid entry or unapproved model.
      - V(warn) reports them and does not fail.
      - V(quarantine) moves unapproved models (their manifests, and blobs no approved model uses) to
        O(quarantine_dir), keeping their bytes, and fails on the other findings.
    type: str
    choices: [enforce, warn, quarantine]
    default: enforce
  mode:
    description:
      - V(verify) checks, using the cache when O(cache=true).
      - V(full) checks and re-reads every file, whatever the cache says.
      - V(lock) writes O(lock) from the verified models in the store.
    type: str
    choices: [verify, full, lock]
    default: verify
  cache:
    description:
      - Reuse digests of files whose device, inode, size, mtime and ctime are unchanged, so that an unchanged
        store re-verifies in metadata time. Catches replaced and rewritten files; does not catch bit rot or a
        raw-device write that leaves those fields unchanged. Run without it from time to time.
    type: bool
    default: false
  cache_path:
    description: Where the cache is kept (root-only, mode 0600).
    type: path
    default: /var/lib/llmsec/model_checksum.cache.json
  quarantine_dir:
    description: Root-only directory for quarantined models.
    type: path
    default: /var/lib/llmsec/quarantine
  workers:
    description: Files hashed in parallel; default the number of CPUs.
    type: int
  required_signatures:
    description:
      - Distinct approvers (principals of O(allowed_signers)) whose OpenSSH signature (C(ssh-keygen -Y sign -n
        llmsec-model-lock)) must verify over the lock's exact bytes. 0 trusts the lock as it is.
      - When fewer verify, the check fails, the last lock that did verify (O(verified_lock)) stays in force, and
        nothing is quarantined, whatever O(policy) says.
    type: int
    default: 0
  allowed_signers:
    description: The allowed-signers file (ssh-keygen(1)) naming the approvers and their public keys.
    type: path
  signatures_dir:
    description: Directory of the lock's signatures (C(*.sig)). Default O(lock) followed by C(.sig.d).
    type: path
  verified_lock:
    description: Where the last lock that verified is kept (root-only).
    type: path
    default: /var/lib/llmsec/models.lock.verified.yml
attributes:
  check_mode:
    support: full
    details: Quarantine and the lock are not written in check mode.
  diff_mode:
    support: partial
    details: Shows the lock file change in O(mode=lock).
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Approve what is in the store now (then review and commit the lock)
  llmsec.hardening.model_checksum:
    store: /usr/share/ollama/.ollama/models
    lock: /etc/llmsec/models.lock.yml
    mode: lock

- name: Refuse to run with a model that is not byte-for-byte approved
  llmsec.hardening.model_checksum:
    store: /usr/share/ollama/.ollama/models
    lock: /etc/llmsec/models.lock.yml
    policy: enforce

- name: A GGUF file for llama.cpp
  llmsec.hardening.model_checksum:
    files:
      - path: /srv/models/qwen2.5-7b-instruct-q4_k_m.gguf
        sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
"""

RETURN = r"""
verified:
  description: Blobs and files whose content matches, with model, digest, path and size.
  returned: always
  type: list
  elements: dict
mismatched:
  description: Blobs and files whose content or size differs from the digest (with the actual digest).
  returned: always
  type: list
  elements: dict
missing:
  description: Blobs a manifest lists that are not in the store, and locked models not in the store.
  returned: always
  type: list
  elements: dict
orphans:
  description: Blobs that no manifest references.
  returned: always
  type: list
  elements: dict
invalid:
  description: Manifests that do not parse, digests that are not sha256, symlinks and non-regular files.
  returned: always
  type: list
  elements: dict
unapproved:
  description: Models missing from the lock or different from it.
  returned: always
  type: list
  elements: dict
models:
  description: Each model in the store with its manifest digest (the model ID that C(ollama list) shows) and layers.
  returned: always
  type: dict
approval:
  description:
    - With O(required_signatures), who approved the lock - C(approved_by) (principals), C(approvals) (principal,
      key fingerprint, signature file), C(rejected) (signature, reason), C(trusted), C(required), C(lock_sha256)
      and, when the lock is not trusted, C(in_force) (the last verified lock used instead, or null).
  returned: when O(required_signatures) is above 0
  type: dict
quarantined:
  description: Files moved (or that would be moved, in check mode) to the quarantine directory.
  returned: always
  type: list
  elements: dict
bytes_hashed:
  description: Bytes read and hashed (cache hits excluded).
  returned: always
  type: int
seconds:
  description: Wall time of the check.
  returned: always
  type: float
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.llmsec.hardening.plugins.module_utils import model_checksum as mc
from ansible_collections.llmsec.hardening.plugins.module_utils.files import write_file


def main():
    module = AnsibleModule(
        argument_spec=dict(
            store=dict(type="path"),
            files=dict(type="list", elements="dict"),
            lock=dict(type="path"),
            policy=dict(type="str", choices=["enforce", "warn", "quarantine"], default="enforce"),
            mode=dict(type="str", choices=["verify", "full", "lock"], default="verify"),
            cache=dict(type="bool", default=False),
            cache_path=dict(type="path", default="/var/lib/llmsec/model_checksum.cache.json"),
            quarantine_dir=dict(type="path", default="/var/lib/llmsec/quarantine"),
            workers=dict(type="int"),
            required_signatures=dict(type="int", default=0),
            allowed_signers=dict(type="path"),
            signatures_dir=dict(type="path"),
            verified_lock=dict(type="path", default="/var/lib/llmsec/models.lock.verified.yml"),
        ),
        required_one_of=[("store", "files")],
        required_if=[("mode", "lock", ("store", "lock")), ("policy", "quarantine", ("store", "lock"))],
        supports_check_mode=True,
    )
    params = module.params
    if params["workers"] is not None and params["workers"] < 1:
        module.fail_json(msg="workers must be at least 1, got %d" % params["workers"])
    if params["mode"] == "lock":
        lock_mode(module)
    if params["required_signatures"] > 0 and not (params["lock"] and params["allowed_signers"]):
        module.fail_json(msg="required_signatures needs lock and allowed_signers")
    config = dict((key, params[key]) for key in
                  ("store", "files", "lock", "policy", "cache", "cache_path", "quarantine_dir", "workers",
                   "required_signatures", "allowed_signers", "signatures_dir", "verified_lock"))
    config["cache"] = params["cache"] and params["mode"] != "full"
    if params["lock"] and not os.path.exists(params["lock"]):
        module.fail_json(msg="lock %s does not exist; create it with mode: lock and review it" % params["lock"])
    try:
        result, findings, code = mc.run_check(config, apply=not module.check_mode)
    except mc.ChecksumError as exc:
        module.fail_json(msg=to_native(exc))
    except (OSError, ValueError) as exc:
        module.fail_json(msg="could not read the store or the lock: %s" % to_native(exc))
    result["changed"] = bool(result["quarantined"])
    result["summary"] = mc.summary(result)
    if code:
        module.fail_json(msg="model integrity check failed: %s" % "; ".join(findings), **result)
    for line in findings:
        module.warn(line)
    module.exit_json(**result)


def lock_mode(module):
    """Write the lock from the verified models in the store, for a human to review."""
    params = module.params
    try:
        result = mc.verify_store(params["store"], mc.Hasher(params["workers"]))
    except (mc.ChecksumError, OSError) as exc:
        module.fail_json(msg=to_native(exc))
    content = mc.render_lock(mc.lock_from_store(result))
    path = params["lock"]
    before = open(path).read() if os.path.exists(path) else ""
    result.update(changed=before != content, quarantined=[], bytes_hashed=0, summary=mc.summary(result))
    if result["changed"] and module._diff:
        result["diff"] = dict(before_header=path, after_header=path, before=before, after=content)
    if result["changed"] and not module.check_mode:
        if before:
            result["backup_file"] = module.backup_local(path)
        write_file(module, path, content, 0o644)
    for line in mc.problems(result):
        module.warn("left out of the lock: " + line)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
