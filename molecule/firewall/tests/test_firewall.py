"""Attack the firewall from a second container, for the ufw and the nftables backend."""

import subprocess

import pytest

from scenario_helpers import assert_refused, inventory_host, name, run_role, wait_for

HOSTS = ["llmsec-fw-ufw", "llmsec-fw-nft"]
CLIENT = "llmsec-fw-client"

testinfra_hosts = ["ansible://" + name for name in HOSTS]

# What the attacker must see. Every port has a listener (prepare.yml), so a
# closed port is the firewall's doing.
EXPECTED = {
    22: True,      # SSH, rate-limited
    443: True,     # listed
    8443: True,    # a Docker-published port that is listed
    8080: False,   # a Docker-published port on 0.0.0.0 that is not listed: the bypass
    9999: False,   # a listener nobody listed
    11434: False,  # Ollama on 0.0.0.0, denied
}


@pytest.fixture(scope="module")
def client():
    return inventory_host(CLIENT)


@pytest.fixture(scope="module")
def ufw_host():
    return inventory_host(HOSTS[0])


def backend(host):
    return "ufw" if name(host) == HOSTS[0] else "nftables"


def reachable(client, host_name, port):
    return client.run("nc -z -w 1 %s %s", host_name, str(port)).rc == 0


def exposure(client, host_name):
    return dict((port, reachable(client, host_name, port)) for port in EXPECTED)


def ruleset(host):
    """The live rule set, as the kernel and ufw report it."""
    if backend(host) == "ufw":
        return host.check_output("ufw show added") + host.check_output("iptables-save -t filter | grep -v '^[#:]'")
    return host.check_output("nft list table inet llmsec_firewall | grep -v elements")


def containers_up(host):
    lines = host.run("docker ps").stdout.splitlines()
    return all(any(" Up " in line and line.endswith(web) for line in lines) for web in ("web8080", "web8443"))


# --- the attacker's view -------------------------------------------------------

def test_listeners_exist_behind_the_closed_ports(host):
    listening = host.check_output("ss -Hltn").split()
    for port in (8080, 9999, 11434):
        assert any(word.endswith(":%d" % port) for word in listening), port


def test_attacker_sees_only_the_allowed_ports(host, client):
    assert exposure(client, name(host)) == EXPECTED


def test_ollama_still_answers_on_loopback(host):
    assert host.run("curl -s -m 3 http://127.0.0.1:11434/api/version").rc == 0


def test_default_policies(host):
    if backend(host) == "ufw":
        status = host.check_output("ufw status verbose")
        assert "Status: active" in status
        assert "Default: deny (incoming), allow (outgoing), deny (routed)" in status
        # IPv6 treated alike
        assert "11434/tcp (v6)" in status and "DENY IN" in status
        assert "-A ufw6-user-input -p tcp --dport 11434 -j DROP" in host.file("/etc/ufw/user6.rules").content_string
    else:
        table = host.check_output("nft list table inet llmsec_firewall")
        assert "hook input priority filter; policy drop;" in table
        assert "hook forward priority filter; policy drop;" in table
        assert "tcp dport 11434 drop" in table
        assert host.service("llmsec-firewall").is_enabled


def test_ssh_is_rate_limited(host):
    if backend(host) == "ufw":
        assert any(line.startswith("22/tcp ") and " LIMIT " in line
                   for line in host.check_output("ufw status").splitlines())
    else:
        assert "add @ssh_limit_v4 { ip saddr limit rate over 6/minute" in host.check_output(
            "nft list chain inet llmsec_firewall input")


# --- refusals: clear error, rules untouched ---------------------------------------

@pytest.mark.parametrize("extra_vars, message", [
    ({"firewall_ssh_sources": []}, "SSH on port 22 would be blocked"),
    ({"firewall_ssh_port": 2222}, "SSH on port 22 would be blocked"),
    ({"firewall_ssh_sources": ["10.99.0.0/16"], "firewall_ssh_port": 2222}, "firewall_ssh_port"),
])
def test_lockout_guard_refuses_and_leaves_rules(host, extra_vars, message):
    before = ruleset(host)
    assert_refused(run_role(host, extra_vars), message)
    assert ruleset(host) == before


@pytest.mark.parametrize("extra_vars, message", [
    ({"firewall_backend": "pf"}, "firewall_backend must be one of ufw, nftables"),
    ({"firewall_allowed_ports": [{"port": 70000}]}, "firewall_allowed_ports[0].port: 70000 is outside 1-65535"),
    ({"firewall_allowed_ports": [{"port": 443, "sources": ["10.0.0.300/8"]}]},
     "firewall_allowed_ports[0].sources: '10.0.0.300/8' is not a valid CIDR"),
    ({"firewall_allowed_ports": [{"port": 443, "proto": "icmp"}]}, "firewall_allowed_ports[0].proto must be tcp or udp"),
    ({"firewall_allowed_ports": [{"port": 11434}]}, "opens the Ollama port 11434 to everyone"),
    ({"firewall_ssh_sources": ["not-an-ip"]}, "firewall_ssh_sources: 'not-an-ip' is not a valid CIDR"),
    ({"firewall_logging": "loud"}, "firewall_logging"),
    ({"firewall_docker_filter": "maybe"}, "firewall_docker_filter must be auto, true or false"),
])
def test_bad_input_is_refused_before_any_change(ufw_host, extra_vars, message):
    before = ruleset(ufw_host)
    assert_refused(run_role(ufw_host, extra_vars), message)
    assert ruleset(ufw_host) == before


# --- declarative rules -----------------------------------------------------------

def test_removed_rule_goes_away_and_foreign_rules_stay(host, client):
    listed = [{"port": 443, "name": "https"}, {"port": 8443, "name": "web"}, {"port": 9999, "name": "extra"}]
    if backend(host) == "ufw":
        host.run_test("ufw allow 7777/tcp")
    else:
        host.run_test("nft add table inet site_rules")
    try:
        added = run_role(host, {"firewall_allowed_ports": listed})
        assert added.returncode == 0, added.stdout[-3000:]
        assert reachable(client, name(host), 9999)
        removed = run_role(host, {})
        assert removed.returncode == 0, removed.stdout[-3000:]
        assert not reachable(client, name(host), 9999)
        if backend(host) == "ufw":
            assert "7777/tcp" in host.check_output("ufw status")  # not ours: left alone
            purged = run_role(host, {"firewall_purge_unmanaged": True})
            assert purged.returncode == 0, purged.stdout[-3000:]
            assert "7777/tcp" not in host.check_output("ufw status")
        else:
            assert "table inet site_rules" in host.check_output("nft list tables")
    finally:
        host.run("ufw delete allow 7777/tcp" if backend(host) == "ufw" else "nft delete table inet site_rules")
    assert exposure(client, name(host)) == EXPECTED


# --- the Docker bypass stays closed ---------------------------------------------------

def test_docker_restart_keeps_the_filter(host, client):
    host.run_test("systemctl restart docker")
    wait_for(lambda: containers_up(host), what="the test containers after a Docker restart")
    assert reachable(client, name(host), 8443)
    assert not reachable(client, name(host), 8080)


def test_reboot_keeps_everything(host, client):
    """A container restart is a reboot: new network namespace, empty rule set, services start again."""
    subprocess.run(["docker", "restart", name(host)], check=True, capture_output=True, timeout=120)

    def booted():
        result = subprocess.run(["docker", "exec", name(host), "systemctl", "is-system-running"],
                                capture_output=True, text=True, check=False)
        return result.stdout.strip() in ("running", "degraded")

    wait_for(booted, what="systemd after the restart")
    wait_for(lambda: containers_up(host), what="the test containers after the restart")
    wait_for(lambda: reachable(client, name(host), 443), what="the 443 listener after the restart")
    assert exposure(client, name(host)) == EXPECTED
