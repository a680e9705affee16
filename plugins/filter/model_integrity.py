# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The model_integrity role's signature checks and allowed-signers file. Logic in module_utils/lock_signature.py."""

from __future__ import annotations

from ansible_collections.llmsec.hardening.plugins.module_utils import lock_signature


def model_integrity_signature_errors(settings):
    """One message per broken rule, each naming its variable; empty when the settings are sound."""
    return lock_signature.settings_errors(settings)


def model_integrity_allowed_signers(signers):
    """The allowed-signers file for the lock's approvers."""
    return lock_signature.render_allowed_signers(signers)


class FilterModule(object):
    def filters(self):
        return {"model_integrity_signature_errors": model_integrity_signature_errors,
                "model_integrity_allowed_signers": model_integrity_allowed_signers}
