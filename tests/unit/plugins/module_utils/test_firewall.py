import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import firewall as fw

BASE = {
    "backend": "ufw", "ssh_ports": [22], "ssh_sources": ["any"], "ssh_rate_limit": True,
    "allowed_ports": [{"port": 443, "proto": "tcp", "sources": ["any"], "name": "https"}],
    "docker_allowed_ports": [{"port": 443, "name": "https"}], "ollama_port": 11434, "ollama_deny": True,
    "ipv6": True, "logging": "low",
}


def build(**changes):
    config = dict(BASE)
    config.update(changes)
    return fw.build_rules(config)


def test_defaults_in_evaluation_order():
    plan = build()
    assert plan["errors"] == []
    assert [(r["name"], r["action"], r["port"], r["source"]) for r in plan["rules"]] == [
        ("ollama", "deny", "11434", "any"), ("ssh", "limit", "22", "any"), ("https", "allow", "443", "any")]
    assert [r["port"] for r in plan["docker_rules"]] == ["443"]
    for rule in plan["rules"]:
        assert rule["id"].startswith("llmsec:%s:" % rule["name"])


def test_rule_id_changes_with_what_the_rule_does():
    a = build()["rules"][2]["id"]
    b = build(allowed_ports=[{"port": 443, "sources": ["10.0.0.0/8"], "name": "https"}])["rules"][2]["id"]
    assert a != b and a.split(":")[1] == b.split(":")[1] == "https"


def test_shorthand_ports_ranges_and_sources():
    plan = build(allowed_ports=[8080, "9000:9010", {"port": 53, "proto": "udp", "sources": ["10.1.2.3", "fd00::/8"]}])
    assert plan["errors"] == []
    got = [(r["port"], r["proto"], r["source"], r["family"]) for r in plan["rules"][2:]]
    assert got == [("8080", "tcp", "any", "any"), ("9000:9010", "tcp", "any", "any"),
                   ("53", "udp", "10.1.2.3/32", "ipv4"), ("53", "udp", "fd00::/8", "ipv6")]


def test_ipv6_off_drops_ipv6_sources():
    plan = build(ipv6=False, allowed_ports=[{"port": 53, "sources": ["10.0.0.0/8", "fd00::/8"]}])
    assert [r["source"] for r in plan["rules"][2:]] == ["10.0.0.0/8"]


def test_rate_limit_off_allows():
    assert build(ssh_rate_limit=False)["rules"][1]["action"] == "allow"


def test_duplicates_collapse():
    plan = build(allowed_ports=[443, 443])
    assert len([r for r in plan["rules"] if r["port"] == "443"]) == 1


@pytest.mark.parametrize("changes, message", [
    ({"backend": "pf"}, "firewall_backend must be one of ufw, nftables"),
    ({"logging": "loud"}, "firewall_logging must be one of"),
    ({"allowed_ports": [{"port": 0}]}, "firewall_allowed_ports[0].port: 0 is outside 1-65535"),
    ({"allowed_ports": [{"port": 70000}]}, "70000 is outside 1-65535"),
    ({"allowed_ports": [{"port": "10:5"}]}, "runs backwards"),
    ({"allowed_ports": [{"port": "http"}]}, "'http' is not a port"),
    ({"allowed_ports": [{"port": True}]}, "is not a port"),
    ({"allowed_ports": [{"port": 443, "proto": "icmp"}]}, "proto must be tcp or udp"),
    ({"allowed_ports": [{"port": 443, "sources": "any"}]}, "sources must be a non-empty list"),
    ({"allowed_ports": [{"port": 443, "sources": []}]}, "sources must be a non-empty list"),
    ({"allowed_ports": [{"port": 443, "sources": ["10.0.0.300/8"]}]}, "'10.0.0.300/8' is not a valid CIDR"),
    ({"allowed_ports": [{"port": 443, "name": "Bad Name"}]}, "name 'Bad Name' must be"),
    ({"allowed_ports": [{"port": 443, "colour": "red"}]}, "unknown keys ['colour']"),
    ({"allowed_ports": [{"proto": "tcp"}]}, "must be a mapping with at least 'port'"),
    ({"allowed_ports": "443"}, "firewall_allowed_ports must be a list"),
    ({"allowed_ports": [11434]}, "opens the Ollama port 11434 to everyone"),
    ({"allowed_ports": ["11000:12000"]}, "opens the Ollama port 11434 to everyone"),
    ({"ssh_sources": "any"}, "firewall_ssh_sources must be a list"),
    ({"ssh_sources": ["nope"]}, "firewall_ssh_port/firewall_ssh_sources: 'nope' is not a valid CIDR"),
    ({"ollama_port": 99999}, "firewall_ollama_port: 99999 is outside 1-65535"),
    ({"docker_allowed_ports": [{"port": -1}]}, "firewall_docker_allowed_ports[0].port"),
])
def test_bad_input_names_the_variable(changes, message):
    errors = build(**changes)["errors"]
    assert errors and message in " ".join(errors), errors


def test_ollama_port_from_specific_sources_needs_the_deny_off():
    lan = [{"port": 11434, "sources": ["10.0.0.0/8"]}]
    assert "firewall_ollama_deny denies it first" in build(allowed_ports=lan)["errors"][0]
    assert build(allowed_ports=lan, ollama_deny=False)["errors"] == []
    assert "to everyone" in build(allowed_ports=[11434], ollama_deny=False)["errors"][0]


def test_lockout_guard():
    rules = build()["rules"]
    assert fw.ssh_lockout_errors(rules, [22], "203.0.113.9") == []
    assert fw.ssh_lockout_errors(rules, [2222]) and "port 2222" in fw.ssh_lockout_errors(rules, [2222])[0]
    only_lan = build(ssh_sources=["10.0.0.0/8"])["rules"]
    assert fw.ssh_lockout_errors(only_lan, [22], "10.1.1.1") == []
    errors = fw.ssh_lockout_errors(only_lan, [22], "203.0.113.9")
    assert errors and "from 203.0.113.9" in errors[0] and "firewall_ssh_sources" in errors[0]
    assert fw.ssh_lockout_errors(build(ssh_sources=[])["rules"], [22])
    # a deny that comes first wins, as it does in the firewall
    denied = build(ssh_ports=[22], ollama_port=22, ollama_deny=True)["rules"]
    assert fw.ssh_lockout_errors(denied, [22])


def test_ufw_command():
    rule = build()["rules"][1]
    assert fw.ufw_command(rule) == ["limit", "from", "any", "to", "any", "port", "22", "proto", "tcp",
                                    "comment", rule["id"]]


ADDED = """Added user rules (see 'ufw status' for running firewall):
ufw deny 11434/tcp comment 'llmsec:ollama:aaaaaaaa'
ufw allow 7777/tcp
ufw limit 22/tcp comment 'llmsec:ssh:bbbbbbbb'
ufw allow from 10.0.0.0/8 to any port 443 proto tcp comment 'llmsec:old:cccccccc'
ufw allow 80/tcp comment 'someone else'
"""


def test_parse_ufw_added():
    parsed = fw.parse_ufw_added(ADDED)
    assert [p["comment"] for p in parsed] == [
        "llmsec:ollama:aaaaaaaa", None, "llmsec:ssh:bbbbbbbb", "llmsec:old:cccccccc", "someone else"]
    assert parsed[3]["args"][:4] == ["allow", "from", "10.0.0.0/8", "to"]
    assert fw.parse_ufw_added("") == []


def test_plan_ufw_declarative():
    existing = fw.parse_ufw_added(ADDED)
    wanted = [{"id": "llmsec:ollama:aaaaaaaa"}, {"id": "llmsec:ssh:bbbbbbbb"}, {"id": "llmsec:https:dddddddd"}]
    plan = fw.plan_ufw(existing, wanted, purge_unmanaged=False)
    assert plan["kept"] == ["llmsec:ollama:aaaaaaaa", "llmsec:ssh:bbbbbbbb"]
    assert [e["comment"] for e in plan["delete"]] == ["llmsec:old:cccccccc"]
    assert [r["id"] for r in plan["add"]] == ["llmsec:https:dddddddd"]
    purge = fw.plan_ufw(existing, wanted, purge_unmanaged=True)
    assert [e["comment"] for e in purge["delete"]] == [None, "llmsec:old:cccccccc", "someone else"]


def test_plan_ufw_removes_duplicate_managed_rules():
    existing = fw.parse_ufw_added("ufw deny 1/tcp comment 'llmsec:a:1'\nufw deny 1/tcp comment 'llmsec:a:1'\n")
    plan = fw.plan_ufw(existing, [{"id": "llmsec:a:1"}], False)
    assert len(plan["delete"]) == 1 and plan["add"] == []


# --- the role's whole plan ---------------------------------------------------------------

SETTINGS = {"backend": "ufw", "ssh_port": 0, "ssh_sources": ["any"], "ssh_rate_limit": True,
            "allowed_ports": [{"port": 443, "proto": "tcp", "name": "https"}], "docker_allowed_ports": [],
            "docker_filter": "auto", "ollama_port": 11434, "ollama_deny": True, "ipv6": True, "logging": "low"}
SS = ['LISTEN 0 128 0.0.0.0:2222 0.0.0.0:* users:(("sshd",pid=1,fd=3))',
      'LISTEN 0 128 [::]:2222 [::]:* users:(("sshd",pid=1,fd=4))',
      'LISTEN 0 4096 127.0.0.1:11434 0.0.0.0:* users:(("ollama",pid=9,fd=3))']


def test_sshd_ports_from_ss():
    assert fw.sshd_ports(SS) == [2222]
    assert fw.sshd_ports([]) == []


@pytest.mark.parametrize("ssh_port, connection, listeners, expected", [
    (0, "192.0.2.10 50000 192.0.2.1 22", SS, [22]),  # the connection in use wins over sshd's ports
    (0, "", SS, [2222]),  # not over SSH: every port sshd listens on
    (0, "", [], [22]),  # nothing known: the inventory's port
    (2200, "192.0.2.10 50000 192.0.2.1 22", SS, [2200]),  # set by the user
])
def test_plan_keeps_the_ssh_port_in_use(ssh_port, connection, listeners, expected):
    result = fw.plan(dict(SETTINGS, ssh_port=ssh_port), listeners, connection)
    assert result["ssh_ports"] == expected


def test_plan_guards_the_connection_and_every_sshd_port():
    # Connected on 22 while sshd also listens on 2222, SSH sources limited to another network.
    result = fw.plan(dict(SETTINGS, ssh_sources=["10.0.0.0/8"]), SS, "192.0.2.10 50000 192.0.2.1 22")
    assert result["errors"] == []
    assert any("port 22 from 192.0.2.10" in error for error in result["lockout_errors"])
    assert any("port 2222 " in error for error in result["lockout_errors"])
    assert fw.plan(SETTINGS, SS, "192.0.2.10 50000 192.0.2.1 2222")["lockout_errors"] == []


@pytest.mark.parametrize("docker_filter, unit, expected", [
    ("auto", "loaded", True), ("auto", "not-found", False), ("auto", "", False),
    (True, "not-found", True), ("false", "loaded", False), ("True", "", True)])
def test_plan_filters_docker_when_it_is_there_or_asked(docker_filter, unit, expected):
    assert fw.plan(dict(SETTINGS, docker_filter=docker_filter), SS, "", unit)["docker"] is expected


@pytest.mark.parametrize("change, message", [
    ({"docker_filter": "sometimes"}, "firewall_docker_filter must be auto, true or false, got sometimes"),
    ({"ssh_port": 70000}, "firewall_ssh_port must be 0 (auto) or a port from 1 to 65535, got 70000"),
    ({"ssh_port": "ssh"}, "firewall_ssh_port must be 0 (auto)"),
    ({"backend": "iptables"}, "firewall_backend must be one of ufw, nftables"),
])
def test_plan_errors_name_their_variable(change, message):
    errors = fw.plan(dict(SETTINGS, **change), SS, "")["errors"]
    assert len(errors) == 1 and errors[0].startswith(message), errors


# --- local access to the Ollama port ---------------------------------------------------------------------

UFW_BEFORE = """#
# rules.before
#
# Don't delete these required lines, otherwise there will be errors
*filter
:ufw-before-input - [0:0]
:ufw-before-output - [0:0]
:ufw-before-forward - [0:0]
:ufw-not-local - [0:0]
# End required lines


# allow all on loopback
-A ufw-before-input -i lo -j ACCEPT
-A ufw-before-output -o lo -j ACCEPT

# don't delete the 'COMMIT' line or these rules won't be processed
COMMIT
"""


def test_local_access_resolves_users_and_ports():
    access = fw.local_access([11434, "11434"], ["ollama", "www-data", "ollama"], {"ollama": 998, "www-data": 33})
    assert access == {"ports": ["11434"], "uids": [33, 998], "errors": []}


@pytest.mark.parametrize("ports,users,message", [
    ([11434], ["mallory"], "firewall_local_access_users: no user mallory on this host"),
    ([11434], [], "firewall_local_access_users must not be empty"),
    ([11434], ["Bad User"], "firewall_local_access_users: 'Bad User' is not a user name"),
    ([], ["ollama"], "firewall_local_access_ports must name"),
    (["http"], ["ollama"], "firewall_local_access_ports: 'http' is not a port"),
])
def test_local_access_errors_name_the_variable(ports, users, message):
    errors = fw.local_access(ports, users, {"ollama": 998})["errors"]
    assert any(message in error for error in errors), errors


def test_ufw_block_goes_before_ufws_loopback_accept_and_replaces_itself():
    access = fw.local_access([11434], ["ollama", "www-data"], {"ollama": 998, "www-data": 33})
    merged = fw.merge_local_access_block(UFW_BEFORE, fw.ufw_local_access_block(access, "ipv4"))
    lines = merged.splitlines()
    jump = lines.index("-A ufw-before-output -p tcp -m conntrack --ctstate NEW --ctorigdst 127.0.0.0/8 "
                       "--ctorigdstport 11434 -j llmsec-local-access")
    assert lines.index(":llmsec-local-access - [0:0]") < jump < lines.index("-A ufw-before-output -o lo -j ACCEPT")
    assert lines.index(":llmsec-local-access - [0:0]") > lines.index(":ufw-not-local - [0:0]")
    assert lines[jump + 1:jump + 4] == ["-A llmsec-local-access -m owner --uid-owner 33 -j RETURN",
                                        "-A llmsec-local-access -m owner --uid-owner 998 -j RETURN",
                                        "-A llmsec-local-access -p tcp -j REJECT --reject-with tcp-reset"]
    # applying it again, or with other users, replaces the block; an empty block takes it out
    again = fw.merge_local_access_block(merged, fw.ufw_local_access_block(access, "ipv4"))
    assert again == merged
    assert fw.merge_local_access_block(merged, []) == fw.merge_local_access_block(UFW_BEFORE, [])
    six = fw.ufw_local_access_block(access, "ipv6")
    assert six[2].startswith("-A ufw6-before-output ") and "--ctorigdst ::1/128" in six[2]


def test_ufw_file_takes_the_block_out_when_the_control_is_off():
    access = fw.local_access([11434], ["ollama"], {"ollama": 998})
    on = fw.ufw_local_access_file(UFW_BEFORE, access, "ipv4")
    assert fw.BLOCK_BEGIN in on and "--uid-owner 998" in on
    assert fw.ufw_local_access_file(on, {}, "ipv4") == UFW_BEFORE
    assert fw.ufw_local_access_file(UFW_BEFORE, {}, "ipv4") == UFW_BEFORE


def test_ufw_block_refuses_a_file_of_another_shape():
    with pytest.raises(ValueError, match="End required lines"):
        fw.merge_local_access_block("*nat\nCOMMIT\n", ["x"])
    broken = UFW_BEFORE.replace("# End required lines", "# End required lines\n" + fw.BLOCK_BEGIN)
    with pytest.raises(ValueError, match="no END line"):
        fw.merge_local_access_block(broken, ["x"])


def test_nft_rules_match_the_original_destination_and_the_socket_owner():
    access = fw.local_access([11434, "8000:8001"], ["ollama"], {"ollama": 998})
    rules = fw.nft_local_access_rules(access)
    assert rules[0] == ('ct state new ct original ip daddr 127.0.0.0/8 meta l4proto tcp ct original proto-dst '
                        '{ 11434, 8000-8001 } meta skuid != { 998 } counter reject with tcp reset '
                        'comment "llmsec:local-access"')
    assert "ip6 daddr ::1/128" in rules[1]
    assert len(fw.nft_local_access_rules(access, ipv6=False)) == 1
