# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that judge Ollama network settings on the controller, before any task
touches a host. The logic is in module_utils/ollama_env.py."""

from __future__ import annotations

from ansible_collections.llmsec.hardening.plugins.module_utils import ollama_env


def listen_address(address):
    """Classify a listen address: {'kind': loopback|wildcard|remote|invalid, 'ip', 'error'}."""
    return ollama_env.classify_address(address)


def ollama_host(address, port):
    """The OLLAMA_HOST value for an address and a port, IPv6 in brackets."""
    info = ollama_env.classify_address(address)
    return ollama_env.format_host_port(info["ip"] or address, int(port))


def origin_errors(origins):
    """A list of reasons why an OLLAMA_ORIGINS list is unsafe; empty when it is fine."""
    return ollama_env.origin_errors(origins)


class FilterModule(object):
    def filters(self):
        return {
            "listen_address": listen_address,
            "ollama_host": ollama_host,
            "origin_errors": origin_errors,
        }
