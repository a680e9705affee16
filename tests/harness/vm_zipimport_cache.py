"""Installed in the test VM only (tests/harness/vm.sh build): keep the bytecode of modules imported from zips.

Ansible sends every module as a new zip (AnsiballZ) and Python compiles every file in it again, on every task,
because zipimport cannot write __pycache__. Under TCG emulation that is a third of each task's time (4.3 s ->
2.7 s for ansible.builtin.ping, measured). This hook caches the compiled code by a hash of the interpreter's
bytecode magic and the source, as __pycache__ does for files on disk. It changes how fast a module starts, not
what it does; nothing the roles under test run is affected.
"""

import hashlib
import importlib.util
import marshal
import os
import zipimport

_CACHE = "/var/cache/llmsec-zipimport"
_compile = zipimport._compile_source  # pylint: disable=protected-access


def _compile_cached(pathname, source):
    path = os.path.join(_CACHE, hashlib.sha256(importlib.util.MAGIC_NUMBER + source).hexdigest())
    try:
        with open(path, "rb") as handle:
            return marshal.load(handle)
    except (OSError, EOFError, ValueError, TypeError):
        pass
    code = _compile(pathname, source)
    try:
        os.makedirs(_CACHE, mode=0o700, exist_ok=True)
        scratch = "%s.%d" % (path, os.getpid())
        with open(scratch, "wb") as handle:
            marshal.dump(code, handle)
        os.replace(scratch, path)
    except OSError:
        pass
    return code


zipimport._compile_source = _compile_cached  # pylint: disable=protected-access
