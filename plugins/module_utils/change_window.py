# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Roles copy this file to hosts: standard library only (tests/unit/plugins/module_utils/test_host_copied.py).
"""A model change window: the one file that says a host's model store may change, and until when.

playbooks/model_change.yml writes it when it opens a window and removes it when it
closes one; the auth gateway lets the routes that change the store through only while
it is open; local_ai_facts reports it; model_integrity removes one left behind. A
window is open only while the file is root's, written by nobody else, well formed and
before its deadline, so a host lost mid-change closes its gateway routes on time by
itself.
"""

from __future__ import annotations

import json
import os
import stat
import time

DEFAULT_PATH = "/var/lib/llmsec/change-window.json"
# Only root opens a window.
OWNER_UID = 0
MAX_MINUTES = 24 * 60
_FIELDS = ("change", "opened_by", "opened", "until")


class WindowError(ValueError):
    pass


def render(change, opened_by, minutes, now=None):
    """The file's text for a window opened now for `minutes`."""
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= MAX_MINUTES:
        raise WindowError("llmsec_model_change_minutes must be a whole number of minutes from 1 to %d, got %r"
                          % (MAX_MINUTES, minutes))
    for name, value in (("llmsec_model_change_id", change), ("the operator", opened_by)):
        if not isinstance(value, str) or not value.strip() or len(value) > 200 or "\n" in value:
            raise WindowError("%s must be a one-line text of at most 200 characters, got %r" % (name, value))
    now = int(time.time() if now is None else now)
    return json.dumps({"change": change.strip(), "opened_by": opened_by.strip(), "opened": now,
                       "until": now + minutes * 60}, sort_keys=True) + "\n"


def parse(text):
    """The window of a file's text; raises WindowError."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise WindowError("not JSON: %s" % exc)
    if not isinstance(data, dict) or any(name not in data for name in _FIELDS):
        raise WindowError("needs %s" % ", ".join(_FIELDS))
    for name in ("opened", "until"):
        if not isinstance(data[name], int) or isinstance(data[name], bool):
            raise WindowError("%s must be a Unix time" % name)
    return dict((name, data[name]) for name in _FIELDS)


def _untrusted(info):
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_uid != OWNER_UID:
        return "owned by uid %d, not root" % info.st_uid
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "writable by others than root (mode %o)" % stat.S_IMODE(info.st_mode)
    return None


def state(path=DEFAULT_PATH, now=None):
    """What the file at path says now: present, open, expired, the window's fields, and why a present file does
    not open anything (error)."""
    now = time.time() if now is None else now
    result = {"path": path, "present": False, "open": False, "expired": False, "error": None}
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return result
    except OSError as exc:
        result.update(present=True, error=str(exc))
        return result
    result["present"] = True
    reason = _untrusted(info)
    if reason:
        result["error"] = reason
        return result
    try:
        with open(path, encoding="utf-8") as handle:
            window = parse(handle.read(65536))
    except (OSError, UnicodeDecodeError, WindowError) as exc:
        result["error"] = str(exc)
        return result
    result.update(window)
    result["expired"] = now >= window["until"]
    result["open"] = not result["expired"]
    return result


class Watcher:
    """state() for a server that asks on every request: the file is read again only when it changes."""

    def __init__(self, path=DEFAULT_PATH):
        self.path = path
        self._key = None
        self._state = None

    def is_open(self, now=None):
        try:
            info = os.lstat(self.path)
            key = (info.st_ino, info.st_mtime_ns, info.st_size, info.st_uid, info.st_mode)
        except OSError:
            key = None
        if key is None:
            self._key, self._state = None, None
            return False
        if key != self._key:
            self._key, self._state = key, state(self.path, now)
        if self._state.get("error") or "until" not in self._state:
            return False
        return (time.time() if now is None else now) < self._state["until"]


STAGES = ("propose", "apply")
CREDENTIAL_FORMS = (("bearer",), ("user", "password"), ("client_cert", "client_key"))


def settings_errors(settings):
    """playbooks/model_change.yml's variables: one message per broken rule, each naming its variable; empty when
    they are sound. settings: change, stage, pull, delete, minutes, credentials, registries, hosts (the play's)."""
    # The controller's side only: hosts never validate a change.
    from ansible_collections.llmsec.hardening.plugins.module_utils import (  # pylint: disable=C0415
        gateway_policy, model_checksum)

    errors = []
    try:
        render(settings.get("change") if settings.get("change") is not None else "", "operator",
               settings.get("minutes"))
    except WindowError as exc:
        errors.append(str(exc))
    if settings.get("stage") not in STAGES:
        errors.append("llmsec_model_change_stage must be one of %s, got %r"
                      % (", ".join(STAGES), settings.get("stage")))
    models = {}
    for name in ("pull", "delete"):
        value = settings.get(name)
        if not isinstance(value, list):
            errors.append("llmsec_model_change_%s must be a list of model names, got %r" % (name, value))
            continue
        for index, model in enumerate(value):
            try:
                host = gateway_policy.parse_model_name(model)[0]
                models.setdefault(name, []).append(gateway_policy.short_model_name(model))
            except gateway_policy.Denied:
                errors.append("llmsec_model_change_%s[%d] is not a model name: %r" % (name, index, model))
                continue
            if name == "pull" and host not in (settings.get("registries") or []):
                errors.append("llmsec_model_change_pull[%d] (%s) is from %s, which auth_gateway_pull_registries "
                              "does not allow (%s)" % (index, model, host,
                                                       ", ".join(settings.get("registries") or [])))
    if not models.get("pull") and not models.get("delete"):
        errors.append("llmsec_model_change_pull and llmsec_model_change_delete are both empty: a change window "
                      "needs something to change")
    both = sorted(set(models.get("pull", [])) & set(models.get("delete", [])))
    if both:
        errors.append("llmsec_model_change_pull and llmsec_model_change_delete both name %s" % ", ".join(both))
    if settings.get("stage") == "propose" and models.get("delete"):
        errors.append("llmsec_model_change_delete is for the apply stage: a proposal only pulls, to hash")
    if settings.get("stage") == "propose" and settings.get("hosts") != 1:
        errors.append("llmsec_model_change_stage propose runs on one reference host; the play has %s (limit it "
                      "with -l or llmsec_model_change_hosts)" % settings.get("hosts"))
    if settings.get("stage") == "apply" and settings.get("lock") is not None:
        try:
            approved = model_checksum.parse_lock(settings["lock"], "the lock") if settings["lock"] else {}
        except Exception as exc:  # pylint: disable=broad-except  # YAML's errors, and the lock's own
            approved = None
            errors.append("the lock the change must match does not parse: %s" % exc)
        for name, verb in (("pull", "is not in"), ("delete", "is still in")):
            for model in models.get(name, []) if approved is not None else []:
                if (model in approved) != (name == "pull"):
                    errors.append("llmsec_model_change_%s: %s %s the lock (model_integrity_lock_content, else the "
                                  "host's %s), so the window's check would fail; propose and sign the lock first"
                                  % (name, model, verb, "lock file"))
    credentials = settings.get("credentials")
    forms = [form for form in CREDENTIAL_FORMS
             if isinstance(credentials, dict) and all(credentials.get(key) for key in form)]
    if not isinstance(credentials, dict) or len(forms) != 1 \
            or set(credentials) - set(forms[0]):
        errors.append("llmsec_model_change_credentials must be one of {bearer: <token>}, {user: .., password: ..} "
                      "or {client_cert: .., client_key: ..} (paths on the hosts): the change goes through the "
                      "front door as a model administrator, and the gateway audits it under that name")
    return errors


def request_failures(results):
    """The front door's answers to a loop of uri tasks (registered results), as one line per request that did
    not succeed: item, HTTP status and Ollama's or the gateway's error. A pull succeeds with status success."""
    lines = []
    for result in results or []:
        if result.get("skipped"):
            continue
        answer = result.get("json") if isinstance(result.get("json"), dict) else {}
        if result.get("status") == 200 and answer.get("status", "success") == "success" and not answer.get("error"):
            continue
        lines.append("%s: HTTP %s: %s" % (result.get("item"), result.get("status"),
                                          answer.get("error") or result.get("msg") or "no answer"))
    return lines
