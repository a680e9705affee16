"""The firewall filters' glue: the getent passwd fact to uids, and a before.rules of the wrong shape."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.llmsec.hardening.plugins.filter import firewall as filters

# ansible.builtin.getent's getent_passwd: {name: [password, uid, gid, gecos, home, shell]}
PASSWD = {"root": ["x", "0", "0", "root", "/root", "/bin/bash"],
          "ollama": ["x", "998", "998", "", "/usr/share/ollama", "/bin/false"],
          "llmsec-gateway": ["x", "997", "997", "", "/nonexistent", "/usr/sbin/nologin"]}


def test_users_resolve_through_the_passwd_fact():
    access = filters.firewall_local_access([11434], ["llmsec-gateway", "ollama"], PASSWD)
    assert access == {"ports": ["11434"], "uids": [997, 998], "errors": []}


def test_a_user_missing_from_the_fact_names_the_variable():
    access = filters.firewall_local_access([11434], ["www-data"], PASSWD)
    assert access["errors"] == ["firewall_local_access_users: no user www-data on this host"]


def test_a_file_of_another_shape_fails_naming_the_file():
    access = filters.firewall_local_access([11434], ["ollama"], PASSWD)
    with pytest.raises(AnsibleFilterError, match="/etc/ufw/before6.rules cannot take the local-access block"):
        filters.firewall_ufw_local_access("COMMIT\n", access, "ipv6")
