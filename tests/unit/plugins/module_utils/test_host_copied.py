"""module_utils files that roles copy to hosts run there with the standard library alone.

The list is read from the roles themselves (every host_library_module_utils a role passes to
llmsec.hardening.host_library), so a role that starts copying another file is covered
without editing this test.
"""

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
COPIED = sorted({name.strip() for path in glob.glob(os.path.join(ROOT, "roles", "*", "*", "*.yml"))
                 for names in re.findall(r"host_library_module_utils: \[([\w, ]+)\]",
                                         open(path, encoding="utf-8").read())
                 for name in names.split(",")})


def test_the_roles_copy_some():
    assert {"gateway_policy", "ollama_api", "ratelimit", "model_checksum", "local_ai", "rag_scan", "rag_rules",
            "atomic_file"} <= set(COPIED)


def test_only_host_library_copies_collection_code():
    """One way to put collection code on a host: no role copies plugins/ files itself."""
    for path in glob.glob(os.path.join(ROOT, "roles", "*", "*", "*.yml")):
        if "/host_library/" not in path:
            with open(path, encoding="utf-8") as handle:
                assert "plugins/module_utils/" not in handle.read(), path


@pytest.mark.parametrize("name", COPIED)
def test_imports_with_the_standard_library_only(name, tmp_path):
    for other in COPIED:  # they are installed side by side
        shutil.copy(os.path.join(ROOT, "plugins", "module_utils", other + ".py"), tmp_path)
    # -I: no environment, no user site; -S: no site-packages at all.
    result = subprocess.run([sys.executable, "-I", "-S", "-c", "import sys; sys.path.insert(0, %r); import %s"
                             % (str(tmp_path), name)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", COPIED)
def test_says_so_in_its_header(name):
    with open(os.path.join(ROOT, "plugins", "module_utils", name + ".py"), encoding="utf-8") as handle:
        head = handle.read(3000)
    assert "Standard library only" in head or "standard library only" in head, name
