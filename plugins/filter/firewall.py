# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that turn the firewall role's variables into one rule list, on the
controller, before any host is touched. The logic is in module_utils/firewall.py."""

from __future__ import annotations

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


class FilterModule(object):
    def filters(self):
        return {
            "firewall_plan": firewall_plan,
            "firewall_rules": firewall_rules,
            "firewall_lockout_errors": firewall_lockout_errors,
        }
