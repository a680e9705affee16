# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that turn the firewall role's variables into one rule list, on the
controller, before any host is touched. The logic is in module_utils/firewall.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmsec.hardening.plugins.module_utils import firewall


def firewall_rules(config):
    """{'rules': [...], 'docker_rules': [...], 'errors': [...]} for a firewall configuration."""
    return firewall.build_rules(config)


def firewall_plan(settings, listeners=None, ssh_connection="", docker_unit="", default_ssh_port=22):
    """The firewall role's whole plan: rules, errors, lockout errors, SSH ports, whether to filter Docker."""
    return firewall.plan(settings, listeners, ssh_connection, docker_unit, default_ssh_port)


def firewall_lockout_errors(rules, ssh_ports, client_address=None):
    """Reasons why these rules would cut the SSH connection in use; empty when safe."""
    return firewall.ssh_lockout_errors(rules, ssh_ports, client_address or None)


def firewall_local_access(ports, users, passwd):
    """{'ports', 'uids', 'errors'}: the allowed users resolved with the host's passwd database (the getent
    module's getent_passwd: {name: [password, uid, ...]})."""
    uids = dict((user, fields[1]) for user, fields in (passwd or {}).items() if fields and len(fields) > 1)
    return firewall.local_access(ports, users, uids)


def firewall_ufw_local_access(text, access, family):
    """ufw's before.rules (family ipv4) or before6.rules (ipv6) with the local-access block, or without it
    when access is None."""
    try:
        return firewall.ufw_local_access_file(text, access, family)
    except ValueError as exc:
        raise AnsibleFilterError("/etc/ufw/%s cannot take the local-access block: %s" % (
            "before6.rules" if family == "ipv6" else "before.rules", exc))


def firewall_nft_local_access(access, ipv6=True):
    """The nftables output-chain rules of the local-access policy."""
    return firewall.nft_local_access_rules(access, ipv6)


class FilterModule(object):
    def filters(self):
        return {
            "firewall_plan": firewall_plan,
            "firewall_rules": firewall_rules,
            "firewall_lockout_errors": firewall_lockout_errors,
            "firewall_local_access": firewall_local_access,
            "firewall_ufw_local_access": firewall_ufw_local_access,
            "firewall_nft_local_access": firewall_nft_local_access,
        }
