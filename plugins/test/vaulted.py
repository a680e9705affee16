# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether a secret came from Ansible Vault: an inline !vault value, or a value of a vars file that is
encrypted as a whole (group_vars/all/vault.yml), which ansible-core 2.19 and later can tell by the
value's origin. A value typed into a plain vars file, an inventory or -e is not."""

from __future__ import annotations

from ansible.plugins.test.core import vault_encrypted

try:  # ansible-core 2.19+: values carry where they were read from
    from ansible._internal._datatag._tags import Origin, VaultedValue  # pylint: disable=import-error
except ImportError:  # older: only inline !vault values are recognised
    Origin = VaultedValue = None

VAULT_HEADER = b"$ANSIBLE_VAULT;"


def _file_is_vaulted(path):
    try:
        with open(path, "rb") as handle:
            return handle.read(len(VAULT_HEADER)) == VAULT_HEADER
    except (OSError, TypeError):
        return False


def vaulted(value):
    """True for a value decrypted from Ansible Vault (inline or from an encrypted file)."""
    if vault_encrypted(value):
        return True
    if VaultedValue is None:
        return False
    if VaultedValue.is_tagged_on(value):
        return True
    origin = Origin.get_tag(value)
    return bool(origin and origin.path and _file_is_vaulted(origin.path))


class TestModule(object):
    def tests(self):
        return {"vaulted": vaulted}
