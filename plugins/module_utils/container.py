# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The container_hardening role's checks, on the controller, before the container changes.

`settings_errors` reads the role's settings (its variables without the
container_hardening_ prefix) and returns one message per broken rule, each
naming its variable. Pure Python, no Ansible imports; argument_specs already
checks types.
"""

from __future__ import annotations

import re

from ansible_collections.llmsec.hardening.plugins.module_utils import settings_check

P = "container_hardening_"
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_TAG = re.compile(r":[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_USER = re.compile(r"^[0-9]+(:[0-9]+)?$")
_MEMORY = re.compile(r"^[0-9]+[bkmgBKMG]?$")
# Set by the role itself: the API address inside, the model store, a writable HOME.
ROLE_ENV = ("OLLAMA_HOST", "OLLAMA_MODELS", "HOME")
FORBIDDEN_MODELS_DIRS = ("/", "/var/run/docker.sock", "/run/docker.sock")


def settings_errors(s):
    """One message per rule the settings break, each naming its variable."""
    refusals = settings_check.Refusals(P)
    check = refusals.check

    image = str(s.get("image") or "")
    if _DIGEST.search(image):
        pass
    elif not image or not _TAG.search(image) or image.endswith(":latest"):
        check(False, "image", "must be pinned by digest (ollama/ollama@sha256:<64 hex>), got %r: a bare or :latest "
              "tag is always refused" % image)
    else:
        check(s.get("allow_floating_tag"), "image", "must be pinned by digest (ollama/ollama@sha256:<64 hex>), got "
              "%r. A tag such as ollama/ollama:0.20.0 needs container_hardening_allow_floating_tag: true" % image)

    user = str(s.get("user", ""))
    ids = user.split(":")
    check(_USER.match(user) and "0" not in [i.lstrip("0") or "0" for i in ids], "user",
          "must be a numeric uid:gid other than root, got %r" % user)
    check(s.get("bind_address") in ("127.0.0.1", "::1"), "bind_address",
          "must be 127.0.0.1 or ::1, got %r: Docker-published ports bypass host firewalls, so the API is published "
          "on loopback only; put nginx_tls_proxy in front for remote clients" % s.get("bind_address"))
    for variable in ("host_port", "container_port"):
        port = settings_check.number(s.get(variable))
        check(port is not None and 1 <= port <= 65535, variable, "must be a port from 1 to 65535, got %r"
              % s.get(variable))
    for variable in ("models_dir", "models_mount", "home", "seccomp_dir", "apparmor_dir"):
        check(str(s.get(variable, "")).startswith("/"), variable, "must be an absolute path, got %r" % s.get(variable))
    models = str(s.get("models_dir", "")).rstrip("/") or "/"
    check(models not in FORBIDDEN_MODELS_DIRS, "models_dir", "cannot be / or the Docker socket, got %r" % models)

    env = s.get("env")
    if not isinstance(env, dict):
        check(False, "env", "must be a mapping of variable: value, got %r" % (env,))
    else:
        taken = [name for name in env if name in ROLE_ENV]
        check(not taken and "*" not in str(env.get("OLLAMA_ORIGINS", "")), "env",
              "cannot set %s (the role sets them) nor put '*' in OLLAMA_ORIGINS" % ", ".join(ROLE_ENV))

    for variable in ("pids_limit", "nofile"):
        number = settings_check.number(s.get(variable))
        check(number is not None and number > 0, variable, "must be a positive integer, got %r" % s.get(variable))
    check(_MEMORY.match(str(s.get("memory", ""))), "memory", "must be a size like 16g, got %r" % s.get("memory"))
    cpus = settings_check.number(s.get("cpus"), float)
    check(s.get("cpus") == "auto" or (cpus is not None and cpus >= 0), "cpus",
          "must be auto, a number of CPUs, or 0 (no limit), got %r" % s.get("cpus"))
    shares = settings_check.number(s.get("cpu_shares"))
    check(shares is not None and (shares == 0 or 2 <= shares <= 262144), "cpu_shares",
          "must be 0 (Docker's default) or from 2 to 262144, got %r" % s.get("cpu_shares"))
    for variable in ("home_size", "tmp_size"):
        check(settings_check.SIZE.match(str(s.get(variable, ""))), variable,
              "must be a size like 16m, got %r" % s.get(variable))
    check(s.get("healthcheck"), "healthcheck", "must be a command list")
    return refusals.messages
