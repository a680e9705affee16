"""Attack the firewall from a second container, for the ufw and the nftables backend."""

import re
import subprocess

import pytest

from scenario_helpers import Refusals, inventory_host, local_ai_findings, name, run_role, wait_for

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


def backend(host):
    return "ufw" if name(host) == HOSTS[0] else "nftables"


def reachable(client, host_name, port):
    return client.run("nc -z -w 1 %s %s", host_name, str(port)).rc == 0


def exposure(client, host_name):
    return dict((port, reachable(client, host_name, port)) for port in EXPECTED)


def ruleset(host):
    """The live rule set, as the kernel and ufw report it."""
    if backend(host) == "ufw":
        return host.check_output("ufw show added") + host.check_output(
            "iptables-save -t filter | grep -v '^[#:]'; ip6tables-save -t filter | grep -v '^[#:]'")
    # counters left out: a refused connection while a test runs is no rule change
    return host.check_output("nft list table inet llmsec_firewall | grep -v elements"
                             " | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'")


def containers_up(host):
    lines = host.run("docker ps").stdout.splitlines()
    return all(any(" Up " in line and line.endswith(web) for line in lines)
               for web in ("web8080", "web8443", "web11435"))


# Loopback targets: the stand-in (IPv4), the [::1] listener, another 127/8 address, Docker's loopback publish.
LOOPBACK = ["127.0.0.1:11434", "[::1]:11434", "127.0.0.2:11434", "127.0.0.1:11435"]


def local_connect(host, user, target):
    """A real local user's curl: connected, reset, or whatever else curl said. Every target has a listener
    (the allowed users connect to each), so curl's 7 (could not connect) is the rule's TCP reset; a drop
    would be 28 (timed out)."""
    command = "curl -sS -m 5 -o /dev/null http://%s/" % target
    result = host.run(command if user == "root" else "runuser -u %s -- %s" % (user, command))
    if result.rc == 0:
        return "connected"
    if result.rc == 7:
        return "reset"
    return "rc %d: %s" % (result.rc, result.stderr.strip())


def resets_counted(host):
    """Packets the local access rules reset, IPv4 and IPv6, as the kernel counts them."""
    if backend(host) == "ufw":
        lines = (host.check_output("iptables -L llmsec-local-access -v -n -x") + "\n"
                 + host.check_output("ip6tables -L llmsec-local-access -v -n -x")).splitlines()
        return sum(int(line.split()[0]) for line in lines if "REJECT" in line)
    table = host.check_output("nft list chain inet llmsec_firewall output")
    return sum(int(count) for count in re.findall(r"counter packets (\d+) bytes \d+ reject", table))


def assert_local_policy(host, root_allowed=False):
    seen = dict(((user, target), local_connect(host, user, target))
                for user in ("mallory", "llmsec-gateway", "ollama", "root") for target in LOOPBACK)
    expected = dict(((user, target), "connected" if user in ("llmsec-gateway", "ollama") or (
        user == "root" and root_allowed) else "reset") for user, target in seen)
    assert seen == expected


# --- the attacker's view -------------------------------------------------------

def test_listeners_exist_behind_the_closed_ports(host):
    listening = host.check_output("ss -Hltn").split()
    for port in (8080, 9999, 11434):
        assert any(word.endswith(":%d" % port) for word in listening), port


def test_attacker_sees_only_the_allowed_ports(host, client):
    assert exposure(client, name(host)) == EXPECTED


def test_ollama_still_answers_on_loopback(host):
    assert local_connect(host, "llmsec-gateway", "127.0.0.1:11434") == "connected"


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


# --- loopback is not access control -------------------------------------------------------

def test_only_listed_local_users_reach_ollama_on_loopback(host):
    """mallory and root are reset on 127.0.0.0/8 and ::1, directly and through Docker's loopback publish;
    the gateway's user and ollama (the role's default list) connect."""
    assert_local_policy(host)


def test_each_refusal_is_counted(host):
    before = resets_counted(host)
    for target in ("127.0.0.1:11434", "[::1]:11434", "127.0.0.1:11435"):
        assert local_connect(host, "mallory", target) == "reset"
    assert resets_counted(host) - before == 3


def test_other_ports_on_loopback_stay_open(host):
    """Only the listed ports: mallory still reaches a listener on another port (9999)."""
    assert local_connect(host, "mallory", "127.0.0.1:9999") == "connected"


def test_a_connection_nat_rewrote_is_judged_on_its_original_destination(host):
    """Docker with userland-proxy off DNATs a loopback-published port in nat OUTPUT, before the filter sees the
    connection (the nested Docker here cannot run so: it must set route_localnet). The same rewrite by hand:
    127.0.0.1:11436 (guarded) to 127.0.0.1:9999 (not guarded)."""
    nat = "OUTPUT -p tcp -d 127.0.0.1 --dport 11436 -j DNAT --to-destination 127.0.0.1:9999"
    host.run_test("iptables -t nat -I " + nat)
    try:
        assert local_connect(host, "mallory", "127.0.0.1:9999") == "connected"
        assert local_connect(host, "mallory", "127.0.0.1:11436") == "reset"
        assert local_connect(host, "llmsec-gateway", "127.0.0.1:11436") == "connected"
    finally:
        host.run_test("iptables -t nat -D " + nat)


def test_the_rules_survive_a_reload(host):
    before = ruleset(host)
    host.run_test("ufw reload" if backend(host) == "ufw" else "systemctl reload llmsec-firewall")
    assert ruleset(host) == before  # reloaded, not doubled
    assert_local_policy(host)


# --- one walk through the states an operator moves between: a role run each ------------------

def test_walk_root_listed_then_control_off_then_purge(host, client):
    """Root listed and an extra port (9999) opened; then local access control off, the extra port gone again
    and the finding local_ai_facts raises when mallory gets in (it tries as nobody); then the default, with
    purge on ufw. A rule that is not ours stays until purge asks for it (ufw 7777, an nft table)."""
    assert "local_access_open" not in local_ai_findings(host)
    listed = [{"port": 443, "name": "https"}, {"port": 8443, "name": "web"}, {"port": 9999, "name": "extra"}]
    ufw = backend(host) == "ufw"
    host.run_test("ufw allow 7777/tcp" if ufw else "nft add table inet site_rules")
    restored = None
    try:
        result = run_role(host, {"firewall_local_access_users": ["llmsec-gateway", "ollama", "root"],
                                 "firewall_allowed_ports": listed})
        assert result.returncode == 0, result.stdout[-3000:]
        assert_local_policy(host, root_allowed=True)
        assert reachable(client, name(host), 9999)

        result = run_role(host, {"firewall_local_access_control": False})
        assert result.returncode == 0, result.stdout[-3000:]
        assert not reachable(client, name(host), 9999)
        assert local_connect(host, "mallory", "127.0.0.1:11434") == "connected"
        assert local_connect(host, "mallory", "127.0.0.1:11435") == "connected"
        (finding,) = local_ai_findings(host)["local_access_open"]
        assert finding["address"] == "127.0.0.1:11434" and "firewall_local_access_control" in finding["fix"]
        if ufw:
            assert "llmsec.hardening local access" not in host.file("/etc/ufw/before.rules").content_string
            assert "7777/tcp" in host.check_output("ufw status")  # not ours: left alone

        restored = run_role(host, {"firewall_purge_unmanaged": True} if ufw else {})
        assert restored.returncode == 0, restored.stdout[-3000:]
        if ufw:
            assert "7777/tcp" not in host.check_output("ufw status")
        else:
            assert "table inet site_rules" in host.check_output("nft list tables")
    finally:
        host.run("ufw delete allow 7777/tcp" if ufw else "nft delete table inet site_rules")
        if restored is None:
            run_role(host, {})
    assert "local_access_open" not in local_ai_findings(host)
    assert_local_policy(host)
    assert exposure(client, name(host)) == EXPECTED


# --- refusals: clear error, rules untouched (every case in one Ansible run per host) --------

BAD_LOCAL_ACCESS = [
    ({"firewall_local_access_users": ["llmsec-gateway", "nosuchuser"]},
     "firewall_local_access_users: no user nosuchuser on this host"),
    ({"firewall_local_access_users": []}, "firewall_local_access_users must not be empty"),
]
LOCKOUT = [
    ({"firewall_ssh_sources": []}, "SSH on port 22 would be blocked"),
    ({"firewall_ssh_port": 2222}, "SSH on port 22 would be blocked"),
    ({"firewall_ssh_sources": ["10.99.0.0/16"], "firewall_ssh_port": 2222}, "firewall_ssh_port"),
]
BAD_INPUT = [
    ({"firewall_backend": "pf"}, "firewall_backend must be one of ufw, nftables"),
    ({"firewall_allowed_ports": [{"port": 70000}]}, "firewall_allowed_ports[0].port: 70000 is outside 1-65535"),
    ({"firewall_allowed_ports": [{"port": 443, "sources": ["10.0.0.300/8"]}]},
     "firewall_allowed_ports[0].sources: '10.0.0.300/8' is not a valid CIDR"),
    ({"firewall_allowed_ports": [{"port": 443, "proto": "icmp"}]}, "firewall_allowed_ports[0].proto must be tcp or udp"),
    ({"firewall_allowed_ports": [{"port": 11434}]}, "opens the Ollama port 11434 to everyone"),
    ({"firewall_ssh_sources": ["not-an-ip"]}, "firewall_ssh_sources: 'not-an-ip' is not a valid CIDR"),
    ({"firewall_logging": "loud"}, "firewall_logging"),
    ({"firewall_docker_filter": "maybe"}, "firewall_docker_filter must be auto, true or false"),
]


@pytest.fixture(scope="module")
def refused(host):
    """The rule set before and after every refusal case, and each case's result."""
    return Refusals(host, BAD_LOCAL_ACCESS + LOCKOUT + BAD_INPUT, lambda: ruleset(host))


@pytest.mark.parametrize("extra_vars, message", BAD_LOCAL_ACCESS + LOCKOUT + BAD_INPUT)
def test_bad_input_is_refused_before_any_change(host, refused, extra_vars, message):
    refused.check(extra_vars, message)


def test_local_policy_holds_after_the_refusals(host, refused):
    assert_local_policy(host)


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
    wait_for(lambda: local_connect(host, "llmsec-gateway", "[::1]:11434") == "connected",
             what="the [::1] listener after the restart")
    wait_for(lambda: local_connect(host, "llmsec-gateway", "127.0.0.1:11434") == "connected",
             what="the stand-in after the restart")
    assert exposure(client, name(host)) == EXPECTED
    assert_local_policy(host)
