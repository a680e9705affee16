# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Roles copy this file to hosts: standard library only (tests/unit/plugins/module_utils/test_host_copied.py).
"""Linux audit rules for what AI servers touch and do: the ai_activity_audit role's rules and their checks.

One rules.d file, keyed by purpose (augenrules loads it at boot with the host's others);
the role loads it by removing only the rules with its own keys (auditctl -D -k) and adding
its file (auditctl -R), never a -D of everything or an -e. Its only control lines keep
audit from ever blocking the host: the backlog's size, no waiting when it is full (events
are counted as lost instead), a rate limit, and printk (not panic) on failure. Pure
Python: the uids of the servers' users are resolved on the host and passed in.
"""

from __future__ import annotations

import posixpath
import re

# Every rule carries one of these keys; the consumer counts events by key.
KEYS = {
    "llmsec_model_read": "reads of a model store by a process of another user than the AI servers'",
    "llmsec_model_write": "writes and attribute changes in a model store",
    "llmsec_ai_config": "writes and attribute changes to the servers' binaries, units, drop-ins, environment "
                        "files, and the collection's keys and CA",
    "llmsec_ai_exec": "programs run by an AI server's user, other than its own helpers",
    "llmsec_ai_connect": "connections opened by an AI server's user",
}
# Every key a rule of ours carries (the exceptions' too): what `auditctl -D -k` removes before a reload, so
# that rules of other owners are never touched.
OWN_KEYS = tuple(KEYS) + ("llmsec_ai_exec_allow", "llmsec_model_read_allow")
# The audit login uid of a process no one logged in to start (systemd's services and timers): unset, (u32)-1.
AUID_UNSET = 4294967295
# Directories whose every read would be audited: the system, not a model store.
TOO_BROAD = ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root", "/run",
             "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib", "/usr/local", "/usr/share", "/var",
             "/var/lib", "/var/log")
ARCHES = ("b64", "b32")
# A rule's key, as the rules file and `auditctl -l` write it.
_KEY = re.compile(r"(?:key=|-k )(llmsec_\w+)")
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._+@:/-]*$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\$?$")
PREFIX = "ai_activity_audit_"


def _path_errors(value, variable, directories_only=False):
    errors = []
    if not isinstance(value, list):
        return ["%s must be a list of absolute paths, got %r" % (variable, value)]
    for index, path in enumerate(value):
        name = "%s[%d]" % (variable, index)
        if not isinstance(path, str) or not _SAFE_PATH.match(path) or "//" in path or "/../" in path + "/" \
                or "/./" in path + "/":
            errors.append("%s must be an absolute, normalised path without spaces or quotes, got %r" % (name, path))
        elif directories_only and posixpath.normpath(path) in TOO_BROAD:
            errors.append("%s is %s: auditing every read there would audit the whole system; name the model "
                          "store itself" % (name, path))
    return errors


def settings_errors(settings):
    """One message per broken rule, each naming its variable (ai_activity_audit_<name>); empty when sound.

    settings: stores, server_users, watch_paths, exec_allow, connect (bool), arches, backlog, rate, and
    quiet_readers (optional: the executables whose reads of the stores by root services are not audited)."""
    errors = []
    errors += _path_errors(settings.get("stores"), PREFIX + "stores", directories_only=True)
    if isinstance(settings.get("stores"), list) and not settings["stores"]:
        errors.append(PREFIX + "stores is empty: there is no model store to watch")
    users = settings.get("server_users")
    if not isinstance(users, list) or not users:
        errors.append(PREFIX + "server_users must list the AI servers' users (such as ollama), got %r" % (users,))
    else:
        for index, user in enumerate(users):
            if not isinstance(user, str) or not _USER.match(user):
                errors.append("%sserver_users[%d] is not a user name: %r" % (PREFIX, index, user))
            elif user == "root":
                errors.append("%sserver_users[%d] is root: every program root runs would be an alert, and root's "
                              "reads of the stores would go unaudited" % (PREFIX, index))
    errors += _path_errors(settings.get("watch_paths"), PREFIX + "watch_paths")
    errors += _path_errors(settings.get("exec_allow"), PREFIX + "exec_allow")
    errors += _path_errors(settings.get("quiet_readers", []), PREFIX + "quiet_root_services (the interpreter)")
    if not isinstance(settings.get("connect"), bool):
        errors.append(PREFIX + "connect must be true or false, got %r" % (settings.get("connect"),))
    arches = settings.get("arches")
    if not isinstance(arches, list) or not arches or any(arch not in ARCHES for arch in arches):
        errors.append(PREFIX + "arches must list some of %s, got %r" % (", ".join(ARCHES), arches))
    backlog = settings.get("backlog")
    if isinstance(backlog, bool) or not isinstance(backlog, int) or not 1024 <= backlog <= 1048576:
        errors.append(PREFIX + "backlog must be a number of events from 1024 to 1048576, got %r" % (backlog,))
    rate = settings.get("rate")
    if isinstance(rate, bool) or not isinstance(rate, int) or not 0 <= rate <= 100000:
        errors.append(PREFIX + "rate must be a number of events per second from 0 (no limit) to 100000, got %r"
                      % (rate,))
    return errors


def render(settings, uids):
    """The rules file's text. uids: {server user: uid}, resolved on the host. Rules come in the order the kernel
    needs: a never rule before the always rule it makes an exception to."""
    server_uids = sorted(uids[user] for user in settings["server_users"])
    lines = ["## Managed by llmsec.hardening (ai_activity_audit): change the role's variables, not this file.",
             "## Only rules of its own: no -D, no -e, nothing another rules.d file set is changed.",
             "-b %d" % settings["backlog"], "--backlog_wait_time 0", "-r %d" % settings["rate"], "-f 1"]
    not_servers = " ".join("-F uid!=%d" % uid for uid in server_uids)
    for arch in settings["arches"]:
        for store in settings["stores"]:
            # Root services no one logged in to start (the integrity timer, with the host's Python) read every
            # blob on schedule: quiet. Root logged in (an admin, Ansible over SSH) is audited, as is anyone else.
            for exe in settings.get("quiet_readers") or []:
                lines.append("-a never,exit -F arch=%s -F dir=%s -F perm=r -F uid=0 -F auid=%d -F exe=%s "
                             "-F key=llmsec_model_read_allow" % (arch, store, AUID_UNSET, exe))
            lines.append("-a always,exit -F arch=%s -F dir=%s -F perm=r %s -F key=llmsec_model_read"
                         % (arch, store, not_servers))
            lines.append("-a always,exit -F arch=%s -F dir=%s -F perm=wa -F key=llmsec_model_write" % (arch, store))
        for uid in server_uids:
            for exe in settings["exec_allow"]:
                lines.append("-a never,exit -F arch=%s -S execve,execveat -F uid=%d -F exe=%s "
                             "-F key=llmsec_ai_exec_allow" % (arch, uid, exe))
            lines.append("-a always,exit -F arch=%s -S execve,execveat -F uid=%d -F key=llmsec_ai_exec"
                         % (arch, uid))
            if settings["connect"]:
                lines.append("-a always,exit -F arch=%s -S connect -F uid=%d -F key=llmsec_ai_connect"
                             % (arch, uid))
    for path in settings["watch_paths"]:
        lines.append("-w %s -p wa -k llmsec_ai_config" % path)
    return "\n".join(lines) + "\n"


def missing(expected, loaded):
    """The keys of the rules in `expected` (the role's rules file) that `loaded` (`auditctl -l`) lacks, one per
    rule: a key appears as often as its rules are missing (auditctl -D -k removed them all, auditctl -d one)."""
    have = {}
    for key in _KEY.findall(loaded):
        have[key] = have.get(key, 0) + 1
    lacking = []
    for key in _KEY.findall(expected):
        if have.get(key):
            have[key] -= 1
        else:
            lacking.append(key)
    return lacking
