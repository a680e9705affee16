# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The firewall's rule model, shared by both backends (ufw and nftables).

`build_rules` turns the role's variables into one normalised list of rules
and a list of errors, each naming the variable to change. The ufw module
applies that list declaratively; the nftables template renders it. The
lockout guard (`ssh_lockout_errors`) checks the list against the SSH
connection actually in use. Pure Python, no Ansible imports.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

MANAGED_PREFIX = "llmsec"
ACTIONS = ("allow", "limit", "deny", "reject")
PROTOS = ("tcp", "udp")
BACKENDS = ("ufw", "nftables")
LOG_LEVELS = ("off", "low", "medium", "high", "full")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")


def parse_port(value):
    """'443', 443 or '8000:8010' -> (low, high), or raise ValueError."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.match(r"^[0-9]+(:[0-9]+)?$", text):
        raise ValueError("%r is not a port or a low:high range" % (value,))
    low, _sep, high = text.partition(":")
    low, high = int(low), int(high or low)
    if not 1 <= low <= 65535 or not 1 <= high <= 65535:
        raise ValueError("%s is outside 1-65535" % text)
    if low > high:
        raise ValueError("%s: the range runs backwards" % text)
    return low, high


def parse_source(value):
    """'any' or a CIDR/address -> 'any' or a normalised network string."""
    if value in (None, "any", "0.0.0.0/0", "::/0"):
        return "any"
    if not isinstance(value, str):
        raise ValueError("%r is not a CIDR or 'any'" % (value,))
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError("%r is not a valid CIDR or address" % value)


def source_family(source):
    if source == "any":
        return "any"
    return "ipv6" if ":" in source else "ipv4"


def port_text(low, high):
    return str(low) if low == high else "%d:%d" % (low, high)


def rule_id(rule):
    """Comment that marks a rule as ours: llmsec:<name>:<hash of what it does>."""
    spec = "%(action)s %(proto)s %(port)s %(source)s" % rule
    return "%s:%s:%s" % (MANAGED_PREFIX, rule["name"], hashlib.sha256(spec.encode()).hexdigest()[:8])


def _make_rule(name, action, port, proto, source):
    low, high = parse_port(port)
    rule = {"name": name, "action": action, "port": port_text(low, high), "port_low": low,
            "port_high": high, "proto": proto, "source": parse_source(source)}
    rule["family"] = source_family(rule["source"])
    rule["id"] = rule_id(rule)
    return rule


def _port_entries(entries, variable, errors):
    """Validate a list of {port, proto, sources, name} entries; yield normalised tuples."""
    if not isinstance(entries, list):
        errors.append("%s must be a list of {port, proto, sources} entries, got %r" % (variable, entries))
        return
    for index, entry in enumerate(entries):
        where = "%s[%d]" % (variable, index)
        if isinstance(entry, (int, str)) and not isinstance(entry, bool):
            entry = {"port": entry}
        if not isinstance(entry, dict) or "port" not in entry:
            errors.append("%s must be a mapping with at least 'port', got %r" % (where, entry))
            continue
        unknown = set(entry) - {"port", "proto", "sources", "name", "comment"}
        if unknown:
            errors.append("%s has unknown keys %s (allowed: port, proto, sources, name)" % (where, sorted(unknown)))
            continue
        proto = entry.get("proto", "tcp")
        if proto not in PROTOS:
            errors.append("%s.proto must be tcp or udp, got %r" % (where, proto))
            continue
        try:
            low, high = parse_port(entry["port"])
        except ValueError as exc:
            errors.append("%s.port: %s" % (where, exc))
            continue
        sources = entry.get("sources", ["any"])
        if isinstance(sources, str) or not isinstance(sources, list) or not sources:
            errors.append("%s.sources must be a non-empty list of CIDRs or 'any', got %r" % (where, sources))
            continue
        name = entry.get("name") or "port-%s-%s" % (port_text(low, high).replace(":", "-"), proto)
        if not _NAME_RE.match(str(name)):
            errors.append("%s.name %r must be 1-32 of a-z, 0-9, '.', '_', '-'" % (where, name))
            continue
        for source in sources:
            try:
                parse_source(source)
            except ValueError as exc:
                errors.append("%s.sources: %s" % (where, exc))
                continue
            yield name, port_text(low, high), proto, source


def build_rules(config):
    """Turn the role's settings into (rules, errors).

    ``config`` keys: backend, ssh_ports (list), ssh_sources, ssh_rate_limit,
    allowed_ports, ollama_port, ollama_deny, ipv6, logging, docker_allowed_ports.
    Rules come in evaluation order: the Ollama deny first, then SSH, then the
    allowed ports. IPv6 sources are dropped when ipv6 is off.
    """
    errors = []
    if config.get("backend") not in BACKENDS:
        errors.append("firewall_backend must be one of %s, got %r" % (", ".join(BACKENDS), config.get("backend")))
    if config.get("logging") not in LOG_LEVELS:
        errors.append("firewall_logging must be one of %s, got %r" % (", ".join(LOG_LEVELS), config.get("logging")))

    rules = []
    ollama_port = config.get("ollama_port")
    if config.get("ollama_deny", True):
        try:
            # Loopback is accepted before any rule (ufw's before.rules, our
            # nftables input chain), so this denies everything else.
            rules.append(_make_rule("ollama", "deny", ollama_port, "tcp", "any"))
        except ValueError as exc:
            errors.append("firewall_ollama_port: %s" % exc)

    ssh_ports = config.get("ssh_ports") or []
    ssh_sources = config.get("ssh_sources")
    if isinstance(ssh_sources, str) or not isinstance(ssh_sources, list):
        errors.append("firewall_ssh_sources must be a list of CIDRs or 'any', got %r" % (ssh_sources,))
        ssh_sources = []
    ssh_action = "limit" if config.get("ssh_rate_limit", True) else "allow"
    for port in ssh_ports:
        for source in ssh_sources:
            try:
                rules.append(_make_rule("ssh", ssh_action, port, "tcp", source))
            except ValueError as exc:
                errors.append("firewall_ssh_port/firewall_ssh_sources: %s" % exc)

    for name, port, proto, source in _port_entries(config.get("allowed_ports", []), "firewall_allowed_ports", errors):
        rules.append(_make_rule(name, "allow", port, proto, source))

    docker_rules = []
    for name, port, proto, source in _port_entries(config.get("docker_allowed_ports", []),
                                                   "firewall_docker_allowed_ports", errors):
        docker_rules.append(_make_rule(name, "allow", port, proto, source))

    if not config.get("ipv6", True):
        rules = [r for r in rules if r["family"] != "ipv6"]
        docker_rules = [r for r in docker_rules if r["family"] != "ipv6"]

    for rule in rules:
        if ollama_port is None or rule["action"] == "deny" or rule["proto"] != "tcp" or not _covers(rule, ollama_port):
            continue
        if rule["source"] == "any":
            errors.append("firewall_allowed_ports opens the Ollama port %s to everyone, and Ollama has no "
                          "authentication. Put nginx_tls_proxy in front and open 443 instead" % ollama_port)
            break
        if config.get("ollama_deny", True):
            errors.append("firewall_allowed_ports opens the Ollama port %s to %s, but firewall_ollama_deny "
                          "denies it first. Set firewall_ollama_deny: false to allow those sources"
                          % (ollama_port, rule["source"]))
            break
    return {"rules": _unique(rules), "docker_rules": _unique(docker_rules), "errors": errors}


def _unique(rules):
    seen, out = set(), []
    for rule in rules:
        if rule["id"] not in seen:
            seen.add(rule["id"])
            out.append(rule)
    return out


def _covers(rule, port):
    try:
        low, high = parse_port(port)
    except ValueError:
        return False
    return rule["port_low"] <= low and high <= rule["port_high"]


def _source_contains(source, address):
    if source == "any":
        return True
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(source)
    except ValueError:
        return False


def ssh_lockout_errors(rules, ssh_ports, client_address=None):
    """Errors if the SSH port in use (from this client, when known) would be cut off."""
    errors = []
    for port in ssh_ports:
        matching = [r for r in rules if r["proto"] == "tcp" and _covers(r, port)
                    and (client_address is None or _source_contains(r["source"], client_address))]
        first = matching[0] if matching else None
        if first is None or first["action"] in ("deny", "reject"):
            who = "from %s " % client_address if client_address else ""
            errors.append(
                "SSH on port %s %swould be blocked: the play is connected through it. Set firewall_ssh_port "
                "to the port sshd listens on and firewall_ssh_sources to include the address you manage "
                "hosts from" % (port, who))
    return errors


def sshd_ports(listeners):
    """The TCP ports sshd listens on, from `ss -Hltnp` lines, in order."""
    ports = []
    for line in listeners or []:
        fields = line.split()
        if '"sshd' not in line or len(fields) < 4:
            continue
        port = fields[3].rsplit(":", 1)[-1]
        if port.isdigit() and int(port) not in ports:
            ports.append(int(port))
    return ports


def plan(settings, listeners=(), ssh_connection="", docker_unit="", default_ssh_port=22):
    """The whole plan of the firewall role, from its settings and what it read on the host.

    ``settings``: the role's variables without the firewall_ prefix (backend, ssh_port, ssh_sources,
    ssh_rate_limit, allowed_ports, docker_allowed_ports, docker_filter, ollama_port, ollama_deny, ipv6,
    logging). ``listeners``: `ss -Hltnp` lines; ``ssh_connection``: the play's SSH_CONNECTION ("client_ip
    client_port server_ip server_port", empty when not over SSH); ``docker_unit``: docker.service's
    LoadState. Returns build_rules' rules, docker_rules and errors, plus backend, docker (whether to
    filter Docker's published ports), ssh_ports (the ports the rules keep open) and lockout_errors: why
    the rules would cut the connection in use or any port sshd listens on.
    """
    errors = []
    docker_filter = str(settings.get("docker_filter", "auto")).lower()
    if docker_filter not in ("auto", "true", "false"):
        errors.append("firewall_docker_filter must be auto, true or false, got %s" % settings.get("docker_filter"))
    try:
        ssh_port = int(settings.get("ssh_port") or 0)
    except (TypeError, ValueError):
        ssh_port = -1
    if not 0 <= ssh_port <= 65535:
        errors.append("firewall_ssh_port must be 0 (auto) or a port from 1 to 65535, got %s"
                      % settings.get("ssh_port"))
    connection = (ssh_connection or "").split()
    connection = connection if len(connection) == 4 and connection[3].isdigit() else []
    listening = sshd_ports(listeners)
    if ssh_port > 0:
        ssh_ports = [ssh_port]
    elif connection:
        ssh_ports = [int(connection[3])]
    else:
        ssh_ports = listening or [int(default_ssh_port)]
    config = dict((key, settings.get(key)) for key in (
        "backend", "ssh_sources", "allowed_ports", "docker_allowed_ports", "ollama_port", "logging"))
    config.update(ssh_ports=ssh_ports if not errors else [], ssh_rate_limit=settings.get("ssh_rate_limit", True),
                  ollama_deny=settings.get("ollama_deny", True), ipv6=settings.get("ipv6", True))
    result = build_rules(config)
    result["errors"] = errors + result["errors"]
    in_use = [int(connection[3])] if connection else []
    lockout = ssh_lockout_errors(result["rules"], in_use, connection[0] if connection else None)
    lockout += ssh_lockout_errors(result["rules"], [port for port in listening if port not in in_use])
    result.update(backend=config["backend"], ssh_ports=ssh_ports, lockout_errors=lockout,
                  docker=docker_unit == "loaded" if docker_filter == "auto" else docker_filter == "true")
    return result


def ufw_command(rule):
    """The ufw arguments that add this rule (without the leading 'ufw')."""
    args = [rule["action"]]
    args += ["from", rule["source"], "to", "any", "port", rule["port"], "proto", rule["proto"]]
    return args + ["comment", rule["id"]]


def parse_ufw_added(output):
    """Parse `ufw show added` into [{'args': [...], 'comment': str|None}]."""
    import shlex

    found = []
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("ufw "):
            continue
        try:
            words = shlex.split(line)[1:]
        except ValueError:
            continue
        comment = None
        if "comment" in words:
            index = words.index("comment")
            comment = words[index + 1] if index + 1 < len(words) else ""
        found.append({"args": words, "comment": comment, "line": line})
    return found


def plan_ufw(existing, rules, purge_unmanaged):
    """What to delete and what to add so that the managed rules are exactly ``rules``.

    A managed rule is recognised by its comment (``llmsec:<name>:<hash>``); ufw
    does not track rules itself. Rules without our comment are kept unless
    ``purge_unmanaged``.
    """
    wanted = dict((r["id"], r) for r in rules)
    present = set()
    delete = []
    for entry in existing:
        comment = entry["comment"] or ""
        ours = comment.startswith(MANAGED_PREFIX + ":")
        if ours and comment in wanted and comment not in present:
            present.add(comment)
        elif ours or purge_unmanaged:
            delete.append(entry)
    add = [r for r in rules if r["id"] not in present]
    return {"delete": delete, "add": add, "kept": sorted(present)}


# --- local access to the Ollama port (loopback is not access control) ---------------------------------------

LOCAL_CHAIN = "llmsec-local-access"
BLOCK_BEGIN = "# BEGIN llmsec.hardening local access (role firewall): do not edit, the role rewrites it"
BLOCK_END = "# END llmsec.hardening local access"
LOOPBACK = {"ipv4": "127.0.0.0/8", "ipv6": "::1/128"}


def local_access(ports, users, uids):
    """Which local users may open a connection to the Ollama ports on loopback.

    ``ports``: the ports (firewall_local_access_ports); ``users``: the allowed user names
    (firewall_local_access_users); ``uids``: {name: uid} as resolved on the host (getent), a missing
    name being a user that does not exist there. Returns {ports, uids, errors}; errors name the variable."""
    errors = []
    parsed = []
    for value in ports or []:
        try:
            low, high = parse_port(value)
        except ValueError as exc:
            errors.append("firewall_local_access_ports: %s" % exc)
            continue
        if port_text(low, high) not in parsed:
            parsed.append(port_text(low, high))
    if not parsed:
        errors.append("firewall_local_access_ports must name the port(s) Ollama listens on, got %r" % (ports,))
    if not users:
        errors.append("firewall_local_access_users must not be empty: the proxy and Ollama itself need the port")
    allowed = []
    for user in users or []:
        if not isinstance(user, str) or not _USER_RE.match(user):
            errors.append("firewall_local_access_users: %r is not a user name" % (user,))
        elif user not in uids:
            errors.append("firewall_local_access_users: no user %s on this host" % user)
        elif int(uids[user]) not in allowed:
            allowed.append(int(uids[user]))
    return {"ports": parsed, "uids": sorted(allowed), "errors": errors}


_USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}\$?$")


def ufw_local_access_block(access, family):
    """The lines that before.rules (ipv4) or before6.rules (ipv6) gets: a chain that lets the allowed users'
    new connections to the ports on loopback through and resets every other one. Matched on the original
    destination (conntrack), so that a connection Docker's NAT rewrote to a container is judged too."""
    # before6.rules names ufw's chains ufw6-*.
    output = "ufw6-before-output" if family == "ipv6" else "ufw-before-output"
    lines = [BLOCK_BEGIN, ":%s - [0:0]" % LOCAL_CHAIN]
    for port in access["ports"]:
        lines.append("-A %s -p tcp -m conntrack --ctstate NEW --ctorigdst %s --ctorigdstport %s "
                     "-j %s" % (output, LOOPBACK[family], port, LOCAL_CHAIN))
    for uid in access["uids"]:
        lines.append("-A %s -m owner --uid-owner %d -j RETURN" % (LOCAL_CHAIN, uid))
    # the tcp-reset of REJECT is only valid in a rule that matches tcp itself
    lines.append("-A %s -p tcp -j REJECT --reject-with tcp-reset" % LOCAL_CHAIN)
    lines.append(BLOCK_END)
    return lines


def merge_local_access_block(text, block):
    """before.rules with the managed block put in (or replaced, or taken out when block is empty).

    It goes right after ufw's '# End required lines' of the *filter table: after the chain declarations,
    before '-A ufw-before-output -o lo -j ACCEPT', which would accept loopback first. Raises ValueError
    when the file does not have that shape."""
    lines = text.splitlines()
    if BLOCK_BEGIN in lines:
        start = lines.index(BLOCK_BEGIN)
        if BLOCK_END not in lines[start:]:
            raise ValueError("its managed block has a BEGIN line and no END line")
        end = lines.index(BLOCK_END, start)
        del lines[start:end + 1]
    try:
        table = lines.index("*filter")
        anchor = next(index for index in range(table, len(lines))
                      if lines[index].strip() == "# End required lines")
    except (ValueError, StopIteration):
        raise ValueError("it has no '*filter' table with ufw's '# End required lines' marker")
    lines[anchor + 1:anchor + 1] = list(block)
    return "\n".join(lines) + "\n"


def nft_local_access_rules(access, ipv6=True):
    """The nftables output-chain rules of the same policy (meta skuid is the socket owner's uid)."""
    ports = ", ".join(port.replace(":", "-") for port in access["ports"])
    allowed = ", ".join(str(uid) for uid in access["uids"])
    rules = []
    for family, address in (("ip", LOOPBACK["ipv4"]), ("ip6", LOOPBACK["ipv6"])):
        if family == "ip6" and not ipv6:
            continue
        rules.append("ct state new ct original %s daddr %s meta l4proto tcp ct original proto-dst { %s } "
                     "meta skuid != { %s } counter reject with tcp reset comment \"llmsec:local-access\""
                     % (family, address, ports, allowed))
    return rules


def ufw_local_access_file(text, access, family):
    """before.rules (family ipv4) or before6.rules (ipv6) as it must be: with the block when access is given,
    without it when access is None (the control switched off)."""
    return merge_local_access_block(text, ufw_local_access_block(access, family) if access else [])
