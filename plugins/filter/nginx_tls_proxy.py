# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nginx_tls_proxy role's checks and certificate choice. Logic in module_utils/nginx_proxy.py."""

from __future__ import annotations

from ansible_collections.llmsec.hardening.plugins.module_utils import nginx_proxy


def nginx_tls_proxy_errors(settings):
    """One message per broken rule, each naming its variable; empty when the settings are sound."""
    return nginx_proxy.errors(settings)


def nginx_tls_proxy_certificate(settings, nginx_dir, acme_live=False):
    """{'cert', 'key', 'content'}: the files nginx serves, and whether the role writes them from content."""
    cert, key, content = nginx_proxy.certificate_files(settings, nginx_dir, bool(acme_live))
    return {"cert": cert, "key": key, "content": content}


class FilterModule(object):
    def filters(self):
        return {"nginx_tls_proxy_errors": nginx_tls_proxy_errors,
                "nginx_tls_proxy_certificate": nginx_tls_proxy_certificate}
