"""module_utils files that roles copy to hosts run there with the standard library alone.

The list is read from the roles themselves (every plugins/module_utils/<name>.py a role
names), so a role that starts copying another file is covered without editing this test.
"""

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
COPIED = sorted({name for path in glob.glob(os.path.join(ROOT, "roles", "*", "*", "*.yml"))
                 for name in re.findall(r"plugins/module_utils/(\w+)\.py", open(path, encoding="utf-8").read())})


def test_the_roles_copy_some():
    assert {"gateway_policy", "ollama_api", "ratelimit", "model_checksum", "local_ai", "rag_scan"} <= set(COPIED)


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
