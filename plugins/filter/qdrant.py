# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rag_ingest_guard role's Qdrant configuration and tenant claims. Logic in module_utils/qdrant.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmsec.hardening.plugins.module_utils import qdrant


def qdrant_config(settings):
    """settings: host, http_port, grpc_port, api_key, read_only_api_key, cert, key, ca_cert, storage_path."""
    config = qdrant.build_config(**settings)
    errors = qdrant.check_config(config)
    if errors:
        raise AnsibleFilterError("rag_ingest_guard_qdrant_*: " + "; ".join(errors))
    return config


def qdrant_collection(tenant):
    try:
        return qdrant.collection_for(tenant)
    except qdrant.QdrantError as exc:
        raise AnsibleFilterError("rag_ingest_guard_qdrant_tenants: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"qdrant_config": qdrant_config, "qdrant_collection": qdrant_collection}
