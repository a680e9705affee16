# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nginx_tls_proxy role's checks and plan, on the controller, before the host changes.

`errors` reads the role's settings (its variables without the nginx_tls_proxy_
prefix) and returns one message per broken rule, each naming its variable.
`certificate_files` says which certificate and key nginx serves. Pure Python,
no Ansible imports; argument_specs already checks types and choices.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.llmsec.hardening.plugins.module_utils import settings_check

P = "nginx_tls_proxy_"
_UPSTREAM = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$")
_UNIX = re.compile(r"^unix:/[A-Za-z0-9._/-]+$")
_NAME = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")
_USER = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_CLIENT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_PATH = re.compile(r"^/[A-Za-z0-9/._-]*$")
_TIME = re.compile(r"^[0-9]+(ms|s|m|h)?$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def _port_ok(value):
    number = settings_check.number(value)
    return number is not None and 1 <= number <= 65535


def _names(entries):
    return [entry.get("name", "(no name)") if isinstance(entry, dict) else "(not a mapping)" for entry in entries]


def errors(s):
    """One message per rule the settings break, each naming its variable."""
    refusals = settings_check.Refusals(P)
    check = refusals.check

    check(_UPSTREAM.match(str(s.get("upstream", ""))), "upstream",
          "must be host:port or [ipv6]:port, got %r" % s.get("upstream"))
    gateway_upstream = str(s.get("gateway_upstream", ""))
    check(_UPSTREAM.match(gateway_upstream) or _UNIX.match(gateway_upstream), "gateway_upstream",
          "must be host:port, [ipv6]:port or unix:/path, got %r" % s.get("gateway_upstream"))
    check(s.get("auth") != "jwt" or settings_check.truthy(s.get("gateway", True)), "gateway",
          "must be true with nginx_tls_proxy_auth jwt (the gateway checks the tokens)")
    for variable in ("https_port", "http_port"):
        check(_port_ok(s.get(variable)), variable, "must be a port from 1 to 65535, got %r" % s.get(variable))
    check(settings_check.number(s.get("http_port")) != settings_check.number(s.get("https_port")), "http_port",
          "must differ from nginx_tls_proxy_https_port (both %r)" % s.get("https_port"))

    server_names = s.get("server_names") or []
    bad = [name for name in server_names if not _NAME.match(str(name))]
    check(server_names and not bad, "server_names",
          "must list the DNS names clients use (letters, digits, dots and hyphens, optionally starting with '*.'); "
          "refused: %s" % (bad or "an empty list"))
    bad = []
    for address in s.get("ip_addresses") or []:
        try:
            ipaddress.ip_address(str(address))
        except ValueError:
            bad.append(address)
    check(not bad, "ip_addresses", "must hold bare IPv4 or IPv6 addresses; refused: %s" % bad)

    if s.get("auth") == "basic":
        users = s.get("basic_users") or []
        names = _names(users)
        ok = (users and all(isinstance(u, dict) and _USER.match(str(u.get("name", ""))) for u in users)
              and len(set(names)) == len(names)
              and all(isinstance(u, dict) and str(u.get("password", "")) != "" for u in users))
        check(ok, "basic_users", "must list at least one user, each with a unique name (letters, digits, . _ @ -) "
              "and a non-empty password (keep it in a vault), as nginx_tls_proxy_auth is basic. Users: %s" % names)
    if s.get("auth") == "mtls":
        clients = s.get("mtls_clients") or []
        names = _names(clients)
        ok = (clients and all(isinstance(c, dict) and _CLIENT.match(str(c.get("name", ""))) for c in clients)
              and len(set(names)) == len(names))
        check(ok, "mtls_clients", "must list at least one client, each with a unique name (letters, digits, . _ -), "
              "as nginx_tls_proxy_auth is mtls. Clients: %s" % names)

    if s.get("cert_source") == "provided":
        content = s.get("certificate") and s.get("private_key")
        paths = str(s.get("certificate_path", "")).startswith("/") and str(s.get("private_key_path", "")).startswith("/")
        check(content or paths, "certificate",
              "and nginx_tls_proxy_private_key (PEM content, e.g. from a vault), or nginx_tls_proxy_certificate_path "
              "and nginx_tls_proxy_private_key_path (absolute paths on the host), must be set: "
              "nginx_tls_proxy_cert_source is provided")
    if s.get("cert_source") == "acme":
        check(_EMAIL.match(str(s.get("acme_email", ""))), "acme_email",
              "must be an e-mail address when nginx_tls_proxy_cert_source is acme, got %r" % s.get("acme_email"))
        check(str(s.get("acme_server", "")).startswith("https://"), "acme_server",
              "must be an https:// directory URL, got %r" % s.get("acme_server"))
        wildcards = [name for name in s.get("server_names") or [] if str(name).startswith("*")]
        check(not wildcards, "server_names", "may not hold wildcards with ACME (HTTP-01 cannot prove them): %s"
              % wildcards)
        check(settings_check.number(s.get("http_port")) == 80, "http_port",
              "must be 80 with ACME (where ACME servers connect), got %r" % s.get("http_port"))

    read, admin = s.get("read_endpoints") or [], s.get("admin_endpoints") or []
    for variable, paths in (("read_endpoints", read), ("admin_endpoints", admin)):
        bad = [path for path in paths if not _PATH.match(str(path))]
        check(not bad, variable, "must hold paths such as /api/chat or /v1/ (letters, digits, / . _ -); "
              "refused: %s" % bad)
    both = [path for path in read if path in admin]
    check(not both, "admin_endpoints", "may not repeat paths of nginx_tls_proxy_read_endpoints: %s" % both)

    for variable in ("rate_per_address", "rate_per_user", "conn_per_address"):
        number = settings_check.number(s.get(variable))
        check(number is not None and number > 0, variable, "must be a positive integer, got %r" % s.get(variable))
    for variable in ("burst_per_address", "burst_per_user", "hsts_max_age"):
        number = settings_check.number(s.get(variable))
        check(number is not None and number >= 0, variable, "must be 0 or more, got %r" % s.get(variable))
    for variable in ("client_max_body_size", "admin_client_max_body_size"):
        check(settings_check.SIZE.match(str(s.get(variable, ""))), variable, "must be an nginx size like 16m, got %r"
              % s.get(variable))
    for variable in ("read_timeout", "client_timeout"):
        check(_TIME.match(str(s.get(variable, ""))), variable, "must be an nginx time like 600s, got %r"
              % s.get(variable))
    days, renew = settings_check.number(s.get("cert_days")), settings_check.number(s.get("cert_renew_days"))
    check(days is not None and renew is not None and days > renew, "cert_days",
          "must be larger than nginx_tls_proxy_cert_renew_days, got %r and %r" % (s.get("cert_days"),
                                                                                  s.get("cert_renew_days")))
    bad = [origin for origin in s.get("cors_origins") or [] if not _ORIGIN.match(str(origin))]
    check(not bad, "cors_origins", "must hold exact origins like https://chat.example.com (no '*', no path); "
          "refused: %s" % bad)
    ca = str(s.get("fleet_metrics_ca") or "")
    if ca:
        check("-----BEGIN CERTIFICATE-----" in ca and "PRIVATE KEY" not in ca, "fleet_metrics_ca",
              "must be the fleet CA's certificate in PEM (monitoring_server's monitoring_server_fleet_ca), "
              "nothing else")
        check(s.get("auth") != "mtls", "fleet_metrics_ca",
              "cannot be combined with nginx_tls_proxy_auth mtls yet (one client CA and its CRL per server); "
              "use basic or jwt on fleet hosts the central Prometheus scrapes")
        scrapers = s.get("fleet_metrics_scrapers")
        check(isinstance(scrapers, list) and scrapers and all(_CLIENT.match(str(name)) for name in scrapers),
              "fleet_metrics_scrapers", "must list the scrapers' certificate names (letters, digits, . _ -), got %r"
              % (scrapers,))
        for variable in ("fleet_metrics_node", "fleet_metrics_gateway"):
            check(_UPSTREAM.match(str(s.get(variable, ""))), variable,
                  "must be host:port on loopback, got %r" % s.get(variable))
    return refusals.messages


def certificate_files(s, nginx_dir, acme_live=False):
    """(certificate, key, from_content): the files nginx serves. from_content: the role writes them from
    nginx_tls_proxy_certificate/_private_key; otherwise they are already on the host (or issued there)."""
    internal = (s["pki_dir"] + "/server.crt", s["pki_dir"] + "/private/server.key")
    source = s.get("cert_source")
    if source == "provided":
        if s.get("certificate"):
            return nginx_dir + "/server.crt", nginx_dir + "/server.key", True
        return s["certificate_path"], s["private_key_path"], False
    if source == "acme" and acme_live:
        live = "/etc/letsencrypt/live/%s/" % s["server_names"][0]
        return live + "fullchain.pem", live + "privkey.pem", False
    return internal[0], internal[1], False
