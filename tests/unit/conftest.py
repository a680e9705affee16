"""Make llmsec.hardening importable as ansible_collections.llmsec.hardening.

The repo root is the collection, linked under .collections (see ansible.cfg);
ansible-test does the same with its own copy. Here we install Ansible's
collection finder over that path, as ansible-test units does.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINK_BASE = os.path.join(ROOT, ".collections")
LINK = os.path.join(LINK_BASE, "ansible_collections", "llmsec", "hardening")


def _install_finder():
    if not os.path.exists(LINK):
        os.makedirs(os.path.dirname(LINK), exist_ok=True)
        os.symlink(os.path.relpath(ROOT, os.path.dirname(LINK)), LINK)
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    paths = [LINK_BASE] + [p for p in sys.path if p.endswith("site-packages")]
    _AnsibleCollectionFinder(paths=paths)._install()


# ansible-test units installs its own finder; only do it when run by plain pytest.
if "ansible_collections.llmsec.hardening" not in sys.modules and not ROOT.endswith(
        os.path.join("ansible_collections", "llmsec", "hardening")):
    _install_finder()


# Test helpers shared with the Molecule scenarios (their verifier gets the same path).
sys.path.insert(0, os.path.join(ROOT, "molecule", "shared"))
