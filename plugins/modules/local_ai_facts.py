#!/usr/bin/python
# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: local_ai_facts
short_description: Find the local AI servers on a host, what they listen on and open, and what is unsafe
version_added: 0.1.0
description:
  - Reads C(/proc) and reports every process of Ollama (server and runners), llama.cpp (C(llama-server)),
    LM Studio and C(lms), vLLM, LocalAI, text-generation-inference and koboldcpp, found by executable and
    command line.
  - For each, its pid, user, executable and its sha256 (and the script and its sha256 when the executable is
    an interpreter), listening TCP sockets, model files mapped or open (GGUF, safetensors, Ollama blobs), its
    systemd unit or Docker container, its effective C(OLLAMA_*) environment, Ollama's model store, and the
    release it was built as (the C(version.Version=) link flag Go keeps in the binary's buildinfo, or the line
    of that form in a script). Ollama's C(llama-server) children (0.30 and later) are reported as its runners.
  - Findings, each with a severity and a fix - C(nonloopback_listener) (in the host's network namespace; a
    container on a bridge network listens in its own, and what Docker publishes of it is
    C(docker_published_ai_port); macvlan and ipvlan networks are not told apart), C(running_as_root),
    C(writable_model) (a loaded model file, or Ollama's store, that the server can write, judged from its
    mode bits, its capabilities and the read-only mounts of its own mount namespace, where systemd's
    C(ReadOnlyPaths=) and a container's read-only volume are),
    C(wildcard_origins) (C(OLLAMA_ORIGINS) contains C(*)), C(docker_published_ai_port) (a C(docker-proxy)
    publishing an AI port off loopback), C(debug_logging) (C(OLLAMA_DEBUG) or C(OLLAMA_DEBUG_LOG_REQUESTS) on,
    so prompts in the log or request bodies in a temporary directory), C(vulnerable_version) (an Ollama release
    that a published advisory with a fixed version affects, one finding per advisory; the table is data in
    the collection, module_utils/ollama_advisories.py, with the date it was last checked),
    C(unsandboxed_service) (a native server without C(NoNewPrivileges), a seccomp filter or an empty
    capability set), and with O(lock) C(unapproved_model_loaded) (an Ollama blob open that the approved-model
    lock does not list).
  - C(change_window_open) (info) while a model change window is open (C(/var/lib/llmsec/change-window.json),
    written by C(playbooks/model_change.yml)), and C(change_window_left_open) (medium) for one left behind - past
    its deadline (a change whose host or controller was lost) or a file that opens nothing (not root's, writable
    by others). C(playbooks/site.yml) closes it.
  - Where the ai_activity_audit role runs, what its consumer counted from the kernel's audit log, as C(ai_activity) -
    events by rule key, those outside a change window, by user, and the last ones. These are counts since the
    role was applied, not findings; the monitoring alerts fire on their growth.
  - A host that is itself a container (systemd in Docker) sees its own services as native.
  - Changes nothing. Run it as root to see other users' processes.
seealso:
  - module: llmsec.hardening.model_checksum
  - module: llmsec.hardening.systemd_sandbox
  - plugin: llmsec.hardening.posture_report
    plugin_type: filter
author:
  - llmsec.hardening contributors (@llmsec)
extends_documentation_fragment:
  - llmsec.hardening.attributes
options:
  lock:
    description: The approved-model lock of model_integrity; blobs open and not in it become findings.
    type: path
  hash_executables:
    description: Hash each server's executable (and script). Off for a faster scan.
    type: bool
    default: true
  root:
    description: Root of the file system to read (C(/proc) below it). For tests.
    type: path
    default: /
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Find local AI servers
  llmsec.hardening.local_ai_facts:
    lock: /etc/llmsec/models.lock.yml
  register: ai

- name: Fail on anything listening off loopback
  ansible.builtin.assert:
    that: ai.findings | selectattr('kind', 'equalto', 'nonloopback_listener') | list | length == 0
    fail_msg: "{{ ai.findings | map(attribute='message') | list }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts under C(local_ai).
  returned: always
  type: complex
  contains:
    local_ai:
      description: C(servers) (each with C(kind), C(pid), C(user), C(exe), C(listeners), C(models), C(unit),
        C(container), C(own_netns), C(environment), C(exe_sha256)), C(findings), C(posture_score),
        C(change_window) and C(ai_activity).
      type: dict
change_window:
  description: The model change window file's state - C(present), C(open), C(expired), C(error) (why a
    present file opens nothing, such as an owner other than root), and the window's C(change), C(opened_by),
    C(opened) and C(until) (Unix times).
  returned: always
  type: dict
  sample: {path: /var/lib/llmsec/change-window.json, present: true, open: false, expired: true, error: null,
           change: CHG-1042, opened_by: alice, opened: 1796342400, until: 1796346000}
ai_activity:
  description: The ai_activity_audit consumer's counts (C(/var/lib/llmsec/ai-activity/state.json)) - C(present)
    (false where the role is not applied), C(error), C(since) (its first run, Unix time), C(counts) (events by
    key since then), C(outside_window) (of the writes, configuration changes and connections, those made while
    no model change window was open), C(by_user) (events by key, then by user) and C(last) (the last ten events, each
    with C(time), C(key), C(uid), C(exe), C(paths) and C(address)).
  returned: always
  type: dict
  sample: {present: true, error: null, since: 1796300000, counts: {llmsec_model_read: 3, llmsec_ai_exec: 1},
           outside_window: {}, by_user: {llmsec_model_read: {root: 2, mallory: 1}, llmsec_ai_exec: {ollama: 1}},
           last: [{time: 1796300120.5, key: llmsec_ai_exec, uid: "998", exe: /usr/bin/dash, paths: [/bin/sh],
                   address: null}]}
findings:
  description: Each with C(severity), C(kind), C(pid), C(server), C(message), C(fix), and C(address) or C(path)
    where one applies, the most severe first.
  returned: always
  type: list
  elements: dict
  sample: [{kind: nonloopback_listener, severity: high, pid: 812, server: ollama, address: "0.0.0.0:11434",
            message: "ollama (pid 812) listens on 0.0.0.0:11434, off loopback", fix: "bind it to 127.0.0.1"}]
servers:
  description: The same list as C(ansible_facts.local_ai.servers).
  returned: always
  type: list
  elements: dict
posture_score:
  description: 100 minus 30 per high, 10 per medium and 3 per low finding, not below 0.
  returned: always
  type: int
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmsec.hardening.plugins.module_utils import audit_events, local_ai


def main():
    module = AnsibleModule(
        argument_spec=dict(
            lock=dict(type="path"),
            hash_executables=dict(type="bool", default=True),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    approved = None
    if module.params["lock"]:
        if not os.path.isfile(module.params["lock"]):
            module.fail_json(msg="lock %s does not exist" % module.params["lock"])
        with open(module.params["lock"]) as handle:
            approved = local_ai.lock_digests(handle.read())
    servers, findings = local_ai.scan(module.params["root"], module.params["hash_executables"], approved)
    score = local_ai.posture_score(findings)
    window = local_ai.window_state(module.params["root"])
    activity = audit_events.summary(os.path.join(module.params["root"], audit_events.DEFAULT_STATE.lstrip("/")))
    module.exit_json(changed=False, servers=servers, findings=findings, posture_score=score, change_window=window,
                     ai_activity=activity,
                     ansible_facts={"local_ai": {"servers": servers, "findings": findings, "posture_score": score,
                                                 "change_window": window, "ai_activity": activity}})


if __name__ == "__main__":
    main()
