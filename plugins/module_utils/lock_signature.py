# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Signed approvals of the model lock: OpenSSH signatures (`ssh-keygen -Y sign`) by named people.

Each approver signs the lock file with a key they hold (`ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n
llmsec-model-lock models.lock.yml`); hosts hold an allowed-signers file (principal, namespace, public key) and
count the distinct principals whose signature verifies over the lock's exact bytes. The claimed signer of a
signature is never trusted: OpenSSH finds the principals of the key that made it, then verifies.

Standard library only: roles copy this file to hosts (llmsec.hardening.host_library), where the timer runs it
beside model_checksum.py with the host's python3 and OpenSSH's ssh-keygen.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess

NAMESPACE = "llmsec-model-lock"
# A principal is a name or an e-mail address: no spaces, commas, quotes or wildcards (the allowed-signers file
# reads a comma-separated list of patterns there).
PRINCIPAL = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")
KEY = re.compile(r"^(ssh-ed25519|sk-ssh-ed25519@openssh\.com|ecdsa-sha2-nistp(256|384|521)|"
                 r"sk-ecdsa-sha2-nistp256@openssh\.com|rsa-sha2-512|rsa-sha2-256|ssh-rsa) [A-Za-z0-9+/]+={0,2}$")
GOOD = re.compile(r'^Good "[^"]*" signature for (?P<principal>\S+) with (?P<type>\S+) key (?P<fingerprint>\S+)')


def signer_errors(signers, variable="allowed_signers"):
    """One message per malformed entry ({principal, key}) or repeated principal."""
    errors, seen = [], set()
    if not isinstance(signers, list):
        return ["%s must be a list of {principal, key}, got %r" % (variable, signers)]
    for index, item in enumerate(signers):
        where = "%s[%d]" % (variable, index)
        if not isinstance(item, dict):
            errors.append("%s must be a mapping with principal and key, got %r" % (where, item))
            continue
        principal = str(item.get("principal", ""))
        key = " ".join(str(item.get("key", "")).split()[:2])
        if not PRINCIPAL.match(principal):
            errors.append("%s.principal must be a name or e-mail address without spaces, commas or wildcards, "
                          "got %r" % (where, principal))
        elif principal in seen:
            errors.append("%s.principal %s is listed twice" % (where, principal))
        seen.add(principal)
        if not KEY.match(key):
            errors.append("%s.key must be an OpenSSH public key line (ssh-ed25519 AAAA...), got %r"
                          % (where, str(item.get("key", ""))[:40]))
    return errors


def settings_errors(settings, prefix="model_integrity_"):
    """model_integrity's signature settings (allowed_signers, required_signatures, lock_signatures, without the
    prefix): one message per broken rule, each naming its variable."""
    errors = signer_errors(settings.get("allowed_signers"), prefix + "allowed_signers")
    try:
        required = int(settings.get("required_signatures"))
    except (TypeError, ValueError):
        required = -1
    principals = set(str(i.get("principal")) for i in settings.get("allowed_signers") or [] if isinstance(i, dict))
    if required < 0:
        errors.append("%srequired_signatures must be 0 (the lock is trusted as it is) or more, got %r"
                      % (prefix, settings.get("required_signatures")))
    elif required > len(principals):
        errors.append("%srequired_signatures is %d but %sallowed_signers names %d approver(s): no lock could ever "
                      "be trusted" % (prefix, required, prefix, len(principals)))
    for index, text in enumerate(settings.get("lock_signatures") or []):
        body = str(text).strip()
        if not (body.startswith("-----BEGIN SSH SIGNATURE-----") and body.endswith("-----END SSH SIGNATURE-----")):
            errors.append("%slock_signatures[%d] must be an armored SSH signature (ssh-keygen -Y sign -n %s), "
                          "got %r" % (prefix, index, NAMESPACE, body[:40]))
    return errors


def render_allowed_signers(signers):
    """The allowed-signers file: each key valid for the lock's namespace only."""
    lines = ["# Approvers of the model lock (llmsec.hardening model_integrity). Format: ssh-keygen(1) ALLOWED SIGNERS."]
    for item in signers:
        lines.append('%s namespaces="%s" %s' % (item["principal"], NAMESPACE,
                                                " ".join(str(item["key"]).split()[:2])))
    return "\n".join(lines) + "\n"


def signature_files(directory):
    """The *.sig files of a directory, sorted; none when it does not exist."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return [os.path.join(directory, n) for n in sorted(names) if n.endswith(".sig")]


def _ssh_keygen(args, data=None, ssh_keygen="ssh-keygen"):
    proc = subprocess.run([ssh_keygen, "-Y"] + args, input=data, capture_output=True, check=False, timeout=60)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def verify(data, signatures, allowed_signers, required, ssh_keygen="ssh-keygen"):
    """Count the distinct allowed principals whose signature verifies over the lock's bytes (`data`: the caller
    reads the file once and uses the same bytes for what it decides).

    Returns {trusted, required, approvals: [{principal, key, signature}], rejected: [{signature, reason}],
    lock_sha256}."""
    approvals, rejected = [], []
    for sig in signatures:
        rc, out, err = _ssh_keygen(["find-principals", "-s", sig, "-f", allowed_signers], ssh_keygen=ssh_keygen)
        principals = out.split() if rc == 0 else []
        if not principals:
            rejected.append({"signature": sig, "reason": "made with a key that is not on the allowed signers list"
                             if "No principal matched" in err else (err.strip().splitlines() or ["unreadable"])[-1]})
            continue
        for principal in principals:
            rc, out, err = _ssh_keygen(["verify", "-f", allowed_signers, "-I", principal, "-n", NAMESPACE, "-s", sig],
                                       data, ssh_keygen)
            match = GOOD.match((out + err).strip())
            if rc == 0 and match:
                approvals.append({"principal": principal, "key": match.group("fingerprint"), "signature": sig})
                break
        else:
            rejected.append({"signature": sig, "reason": "signed by %s but does not verify over this lock (edited "
                             "after signing, or signed for another file or namespace)" % ", ".join(principals)})
    distinct = sorted(set(a["principal"] for a in approvals))
    return {"trusted": len(distinct) >= required, "required": required, "approved_by": distinct,
            "approvals": approvals, "rejected": rejected, "lock_sha256": hashlib.sha256(data).hexdigest()}


def finding(state, lock_path):
    """The one-line finding for an untrusted lock."""
    reasons = "; ".join("%s: %s" % (os.path.basename(r["signature"]), r["reason"]) for r in state["rejected"])
    return ("lock %s is not trusted: %d distinct valid signature(s) (%s) of %d required%s; the last verified lock "
            "stays in force and nothing is quarantined" % (
                lock_path, len(state["approved_by"]), ", ".join(state["approved_by"]) or "none", state["required"],
                " (%s)" % reasons if reasons else ""))
