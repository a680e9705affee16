#!/usr/bin/python
# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rag_document_scan
short_description: Scan documents for injected instructions and hidden text before a RAG pipeline ingests them
version_added: 0.1.0
description:
  - Reads text, Markdown and HTML always; PDF with pypdf and DOCX with python-docx when they are installed,
    otherwise each such file is listed in RV(skipped) with the library it needs (never passed silently).
  - Rules are data - a YAML rule set shipped with the collection, extended or overridden (same C(id)) by
    O(rules). They cover instruction overrides in many phrasings and languages, role and chat-template markers,
    exfiltration requests; code adds hidden text (HTML hidden by style or attribute, comments, C(alt) and
    C(title) text, zero-width, bidi override and Unicode tag characters), Markdown and HTML images and links
    whose query carries data to another host, base64, hex and percent-encoded blocks that decode to
    instructions, and look-alike spellings (confusable letters, spaced or dotted letters, leetspeak).
    Sentences are also scored on cue words (addressing an AI, overriding instructions, reaching for secrets),
    so that paraphrases are caught.
  - A match quoted or in code, in a text that discusses prompt injection, is lowered to C(low) or C(info),
    so that articles about injection are not flagged; hidden text is never lowered.
  - A document is flagged when a finding reaches O(fail_on).
  - Actions - V(report); V(sanitize) writes cleaned copies of flagged documents to O(output_dir) (hidden text
    and flagged sentences removed) and leaves the originals; V(quarantine) moves flagged documents to
    O(quarantine_dir) (mode 0700) with their bytes unchanged. Nothing is deleted, and no file is overwritten
    (a numbered name is used instead).
seealso:
  - module: llmsec.hardening.jwt_token
  - plugin: llmsec.hardening.qdrant_config
    plugin_type: filter
  - plugin: llmsec.hardening.qdrant_collection
    plugin_type: filter
author:
  - llmsec.hardening contributors (@llmsec)
extends_documentation_fragment:
  - llmsec.hardening.attributes
options:
  paths:
    description: Files or directories (read recursively, dot files skipped).
    type: list
    elements: path
    required: true
  action:
    description: What to do with flagged documents.
    type: str
    choices: [report, sanitize, quarantine]
    default: report
  output_dir:
    description: Where V(sanitize) writes the cleaned copies. Required with O(action=sanitize).
    type: path
  quarantine_dir:
    description: Where V(quarantine) moves flagged documents. Required with O(action=quarantine).
    type: path
  rules:
    description: A YAML file of extra rules (C(id), C(severity), C(rationale), C(pattern)); a rule with the
      C(id) of a default rule replaces it.
    type: path
  fail_on:
    description: The lowest severity that flags a document.
    type: str
    choices: [high, medium, low]
    default: medium
  fail:
    description: Fail the task when a document is flagged (after the action).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
    details: V(quarantine) moves flagged files away, so a second run finds nothing to move.
requirements:
  - PyYAML
  - pypdf (for PDF files)
  - python-docx (for DOCX files)
"""

EXAMPLES = r"""
- name: Scan the upload folder and quarantine what is flagged
  llmsec.hardening.rag_document_scan:
    paths: [/srv/rag/uploads]
    action: quarantine
    quarantine_dir: /var/lib/llmsec/rag/quarantine
  register: scan

- name: Report findings of high severity only, with our own rules
  llmsec.hardening.rag_document_scan:
    paths: [/srv/rag/clean]
    rules: /etc/llmsec/rag-rules.yml
    fail_on: high
    fail: true
"""

RETURN = r"""
findings:
  description: Each with C(file), C(line), C(offset), C(rule), C(severity), C(channel) (text, comment,
    hidden-element, attribute, zero-width, bidi, unicode-tags, markdown, html, encoded), C(snippet) (at most
    120 characters) and C(rationale).
  returned: always
  type: list
  elements: dict
scanned:
  description: Documents read.
  returned: always
  type: int
flagged:
  description: Documents with a finding at O(fail_on) or above.
  returned: always
  type: list
  elements: str
skipped:
  description: Files not read, each with C(path) and C(reason) (C(skipped - needs pypdf), an unsupported type).
  returned: always
  type: list
  elements: dict
moved:
  description: For V(sanitize) and V(quarantine), each C(src) and C(dest).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.llmsec.hardening.plugins.module_utils import rag_scan


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", required=True),
            action=dict(type="str", choices=["report", "sanitize", "quarantine"], default="report"),
            output_dir=dict(type="path"),
            quarantine_dir=dict(type="path"),
            rules=dict(type="path"),
            fail_on=dict(type="str", choices=["high", "medium", "low"], default="medium"),
            fail=dict(type="bool", default=False),
        ),
        required_if=[("action", "sanitize", ("output_dir",)), ("action", "quarantine", ("quarantine_dir",))],
        supports_check_mode=True,
    )
    params = module.params
    if not rag_scan.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    try:
        rules = rag_scan.load_rules(params["rules"])
        result = rag_scan.scan_paths(params["paths"], rules, params["fail_on"])
        moved = []
        if params["action"] != "report":
            moved = rag_scan.apply_action(result, params["action"], params["output_dir"], params["quarantine_dir"],
                                          params["fail_on"], module.check_mode)
    except (rag_scan.ScanError, OSError) as exc:
        module.fail_json(msg=to_native(exc))
    output = dict(changed=bool(moved), findings=result["findings"], scanned=result["scanned"],
                  flagged=result["flagged"], skipped=result["skipped"], moved=moved)
    if params["fail"] and result["flagged"]:
        module.fail_json(msg="%d of %d documents flagged: %s" % (len(result["flagged"]), result["scanned"],
                                                                 ", ".join(result["flagged"][:10])), **output)
    module.exit_json(**output)


if __name__ == "__main__":
    main()
