# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Replace a file atomically: the one writer of the collection's code that runs on hosts.

Standard library only: roles copy this file to hosts (llmsec.hardening.host_library),
where it runs with the host's python3 beside the other module_utils files. Modules
write through AnsibleModule.atomic_move instead (module_utils/files.py).
"""

from __future__ import annotations

import os
import tempfile


def write_atomic(path, content, mode=0o644):
    """Write content (str or bytes) to a temporary file beside path, flush it to disk, give it mode, then rename
    it over path: readers see the old file or the new one, never a part."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "wb" if isinstance(content, bytes) else "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
