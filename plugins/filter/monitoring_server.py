# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the monitoring_server role. Logic in module_utils/fleet_monitoring.py."""

from __future__ import annotations

from ansible_collections.llmsec.hardening.plugins.module_utils import fleet_monitoring


def monitoring_server_errors(settings):
    """One message per broken setting, each naming its variable; empty when they are sound."""
    return fleet_monitoring.settings_errors(settings)


def monitoring_server_file_sd(fleet):
    """Prometheus file_sd targets for the fleet hosts: each host's nginx, labelled host, shape and groups."""
    return fleet_monitoring.file_sd(fleet)


def monitoring_server_alertmanager(settings):
    """alertmanager.yml (as a dict) with the receivers, routes and the host-down inhibition."""
    return fleet_monitoring.alertmanager_config(settings)


def monitoring_server_cluster(cluster, tls_dir):
    """Alertmanager's cluster flags and TLS file for a pair (or more) of central hosts; clustering off without peers."""
    return fleet_monitoring.alertmanager_cluster(cluster, tls_dir)


class FilterModule(object):
    def filters(self):
        return {"monitoring_server_errors": monitoring_server_errors,
                "monitoring_server_file_sd": monitoring_server_file_sd,
                "monitoring_server_alertmanager": monitoring_server_alertmanager,
                "monitoring_server_cluster": monitoring_server_cluster}
