#!/usr/bin/python
# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: seccomp_profile
short_description: Generate a least-privilege Docker/OCI seccomp profile
version_added: 0.1.0
description:
  - Builds a seccomp profile in moby's schema (C(defaultAction) C(SCMP_ACT_ERRNO), C(defaultErrnoRet),
    C(archMap), C(syscalls) with argument conditions) from a baseline, a hardening deny set, and O(allow)
    and O(deny) lists. Deny always wins.
  - The baseline's capability, kernel and architecture conditions (moby's C(includes)/C(excludes)) are
    resolved for O(capabilities) and the host's kernel, so the profile and its counts are what the kernel
    will enforce for a container started with exactly those capabilities.
  - Only the native architectures are mapped (no 32-bit sub-architectures), so the 32-bit C(socketcall)
    path around the C(socket) rule does not exist.
  - Every syscall name in O(allow), O(deny) and O(from_trace) is checked for the target architectures, with
    libseccomp (Debian's C(python3-seccomp)) when it is installed on the host, otherwise with the table the
    collection ships (libseccomp 2.5.4). Unknown names fail the task and are listed.
  - Returns the profile as a dict, for C(security_opts) of community.docker.docker_container, which takes
    the profile's JSON content rather than a path, and optionally writes it to O(dest).
seealso:
  - module: llmsec.hardening.systemd_sandbox
author:
  - llmsec.hardening contributors (@llmsec)
extends_documentation_fragment:
  - llmsec.hardening.attributes
  - llmsec.hardening.attributes.full
  - ansible.builtin.files
options:
  baseline:
    description:
      - V(docker-default) is Docker's default profile (as Debian's docker.io ships it).
      - V(ollama) is a least-privilege list for Ollama and its llama.cpp runners (exec of the runner, threads,
        mmap of weights, local TCP, GPU ioctls), with C(socket) limited to AF_UNIX, AF_INET, AF_INET6 and
        AF_NETLINK, C(clone) without namespace flags, and C(clone3) answering ENOSYS.
      - V(none) starts empty (use with O(from_trace) or O(allow)).
    type: str
    choices: [docker-default, ollama, none]
    default: docker-default
  allow:
    description: Syscalls to allow on top of the baseline (unless denied).
    type: list
    elements: str
    default: []
  deny:
    description: Syscalls to deny, whatever the baseline, O(allow) or O(from_trace) say.
    type: list
    elements: str
    default: []
  harden:
    description:
      - Deny a set of syscalls that break out of or look beyond a container (mount, umount2, unshare, setns,
        pivot_root, ptrace, process_vm_*, bpf, perf_event_open, keyctl, add_key, request_key, kexec_*,
        init_module, finit_module, delete_module, open_by_handle_at, userfaultfd, io_uring_*, the new mount API,
        swapon, reboot, clock setting ...), restrict C(personality) to the safe values, and C(socket) to
        families other than AF_ALG and AF_VSOCK.
    type: bool
    default: true
  from_trace:
    description:
      - Path on the host of a recorded syscall set, added to the allow list with a small runtime base (what
        runc and the dynamic loader need before the program runs).
      - "Accepted: the summary of C(strace -f -c -o FILE CMD), the log of C(strace -f -qq -e trace=all -o FILE
        CMD), or a plain list of names (whitespace or comma separated, C(#) comments)."
      - "Record under real load (model load, inference, pull, GPU initialisation): only exercised paths appear."
    type: path
  architectures:
    description: Target architectures (x86_64/amd64, aarch64/arm64). Default the host's.
    type: list
    elements: str
  capabilities:
    description:
      - Capabilities the container keeps (C(NET_BIND_SERVICE) or C(CAP_NET_BIND_SERVICE)), to resolve the
        baseline's capability conditions. Default none, as with C(cap_drop=ALL).
    type: list
    elements: str
    default: []
  dest:
    description: Write the profile here (JSON), atomically and only when it changes. Mode defaults to 0644.
    type: path
requirements:
  - python3-seccomp on the host for validation against its libseccomp (optional).
"""

EXAMPLES = r"""
- name: Generate the profile for the Ollama container
  llmsec.hardening.seccomp_profile:
    baseline: ollama
    deny: [chmod, fchmod, fchmodat]
    dest: /etc/llmsec/seccomp/ollama.json
  register: ollama_seccomp

- name: Run Ollama with it (community.docker wants the JSON, not a path)
  community.docker.docker_container:
    name: ollama
    image: ollama/ollama@sha256:...
    security_opts:
      - "seccomp={{ ollama_seccomp.profile | to_json }}"
      - no-new-privileges:true

- name: A profile from a recorded trace (strace -f -c -o /root/ollama.trace ollama serve)
  llmsec.hardening.seccomp_profile:
    baseline: none
    from_trace: /root/ollama.trace
"""

RETURN = r"""
profile:
  description: The profile, as Docker reads it.
  returned: always
  type: dict
  sample: {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
           "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}],
           "syscalls": [{"names": ["accept4", "bind"], "action": "SCMP_ACT_ALLOW"}]}
allowed_count:
  description: Number of distinct syscalls the profile allows (conditionally or not).
  returned: always
  type: int
  sample: 215
allowed:
  description: The syscalls the profile allows.
  returned: always
  type: list
  elements: str
denied:
  description: The syscalls denied on purpose (the hardening set and O(deny)) that exist on the architectures.
  returned: always
  type: list
  elements: str
unknown_in_baseline:
  description: Baseline names that do not exist on the target architectures (left out of the profile).
  returned: always
  type: list
  elements: str
validator:
  description: What checked the syscall names, C(libseccomp) or C(table).
  returned: always
  type: str
dest:
  description: The file written, when O(dest) is set.
  returned: when O(dest) is set
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.llmsec.hardening.plugins.module_utils import seccomp
from ansible_collections.llmsec.hardening.plugins.module_utils.files import write_file


def main():
    module = AnsibleModule(
        argument_spec=dict(
            baseline=dict(type="str", default="docker-default", choices=["docker-default", "ollama", "none"]),
            allow=dict(type="list", elements="str", default=[]),
            deny=dict(type="list", elements="str", default=[]),
            harden=dict(type="bool", default=True),
            from_trace=dict(type="path"),
            architectures=dict(type="list", elements="str"),
            capabilities=dict(type="list", elements="str", default=[]),
            dest=dict(type="path"),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    params = module.params
    trace_text = None
    if params["from_trace"]:
        try:
            with open(params["from_trace"], encoding="utf-8", errors="replace") as handle:
                trace_text = handle.read()
        except OSError as exc:
            module.fail_json(msg="from_trace: cannot read %s: %s" % (params["from_trace"], to_native(exc)))
    uname = os.uname()
    try:
        profile, info = seccomp.build_profile(
            baseline=params["baseline"], allow=params["allow"], deny=params["deny"], harden=params["harden"],
            trace_text=trace_text, arches=params["architectures"] or [uname.machine],
            caps=params["capabilities"], kernel=uname.release)
    except seccomp.SeccompError as exc:
        module.fail_json(msg=to_native(exc))

    result = dict(changed=False, profile=profile, **info)
    dest = params["dest"]
    if dest:
        result["dest"] = dest
        content = seccomp.render(profile)
        before = ""
        if os.path.exists(dest):
            with open(dest, encoding="utf-8", errors="replace") as handle:
                before = handle.read()
        if not os.path.isdir(os.path.dirname(dest) or "."):
            if module.check_mode:  # a task before this one would have created it
                result["changed"] = True
                module.exit_json(**result)
            module.fail_json(msg="dest: the directory of %s does not exist" % dest, **result)
        if before != content:
            result["changed"] = True
            if module._diff:
                result["diff"] = dict(before=before, after=content, before_header=dest, after_header=dest)
            if not module.check_mode:
                write_file(module, dest, content, 0o644)
        file_args = module.load_file_common_arguments(params, path=dest)
        if file_args.get("mode") is None:
            file_args["mode"] = "0644"
        if os.path.exists(dest):
            result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
