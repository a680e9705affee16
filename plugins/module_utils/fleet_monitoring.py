# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet control room (role monitoring_server): which fleet hosts the central Prometheus scrapes and how
they are labelled, Alertmanager's routes, receivers and inhibitions, and the checks of their settings.

Controller side only (filters): nothing here is copied to hosts.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

V = "monitoring_server_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
DURATION = re.compile(r"^[0-9]+[smhd]$")
HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$")
LABEL_VALUE = re.compile(r"^[^\n\"\\]{0,200}$")
MATCHER = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"?[^"\n]*"?$')
EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")
# The alerts a host that does not answer makes meaningless: its other alerts wait while it is down.
HOST_DOWN_ALERT = "LlmsecFleetHostDown"


def _duration(errors, name, value):
    if not isinstance(value, str) or not DURATION.match(value):
        errors.append("%s%s must be a duration like 30s, 5m, 2h or 1d, got %r" % (V, name, value))


def _https_url(errors, name, url, allow_http):
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        errors.append("%s.url must be an https:// URL, got %r" % (name, url))
    elif parts.scheme == "http" and not allow_http:
        errors.append("%s.url must be https:// (alerts name hosts and models, and the bearer token travels with "
                      "them); set %s.allow_http: true to send them in clear, got %r" % (name, name, url))


def settings_errors(settings):
    """One message per broken setting, each naming its variable; empty when they are sound.

    settings: fleet ([{host, address, port, tls}]), central (the central host's name), webhook_receivers,
    email_receivers, smtp, smtp_password_vaulted, unvaulted_tokens (names of webhook receivers whose
    bearer_token is not from Ansible Vault), default_receiver, routes, durations {name: value},
    posture_threshold, certificate_warn_days, scraper_name."""
    errors = []
    fleet = settings.get("fleet")
    if not isinstance(fleet, list) or not fleet:
        errors.append("%sfleet_hosts must list the fleet hosts to watch (inventory names), got %r"
                      % (V, settings.get("fleet_hosts")))
        fleet = []
    for entry in fleet:
        if entry.get("host") == settings.get("central"):
            errors.append("%sfleet_hosts lists the central host %s itself: run the monitoring role's local "
                          "Prometheus on fleet hosts only" % (V, entry["host"]))
        elif not entry.get("tls"):
            errors.append("%sfleet_hosts: %s has no certificate (nginx_tls_proxy is not enabled there): it is "
                          "scraped through its nginx on HTTPS, and no new port is opened for it" % (V, entry.get("host")))
        if not HOST.match(str(entry.get("address") or "")):
            errors.append("%sfleet_hosts: %s has no usable address, got %r" % (V, entry.get("host"), entry.get("address")))
        port = entry.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            errors.append("%sfleet_hosts: %s's HTTPS port must be 1-65535, got %r" % (V, entry.get("host"), port))
    for name, value in sorted((settings.get("durations") or {}).items()):
        _duration(errors, name, value)
    threshold = settings.get("posture_threshold")
    if not isinstance(threshold, int) or isinstance(threshold, bool) or not 0 < threshold <= 100:
        errors.append("%sposture_threshold must be a score from 1 to 100, got %r" % (V, threshold))
    days = settings.get("certificate_warn_days")
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        errors.append("%scertificate_warn_days must be a whole number of days of at least 1, got %r" % (V, days))
    if not NAME.match(str(settings.get("scraper_name") or "")):
        errors.append("%sscraper_name must be a certificate common name of letters, digits, '.', '_' and '-', got %r"
                      % (V, settings.get("scraper_name")))
    names = []
    webhooks = settings.get("webhook_receivers") or []
    for index, receiver in enumerate(webhooks):
        name = "%swebhook_receivers[%d]" % (V, index)
        if not isinstance(receiver, dict):
            errors.append("%s must be a dict with name and url, got %r" % (name, receiver))
            continue
        names.append(receiver.get("name"))
        _https_url(errors, name, receiver.get("url"), bool(receiver.get("allow_http")))
        if receiver.get("bearer_token") and receiver.get("name") in (settings.get("unvaulted_tokens") or []):
            errors.append("%s.bearer_token must come from Ansible Vault (an inline !vault value or a vars file "
                          "encrypted with ansible-vault), not a plain variable" % name)
    emails = settings.get("email_receivers") or []
    for index, receiver in enumerate(emails):
        name = "%semail_receivers[%d]" % (V, index)
        if not isinstance(receiver, dict):
            errors.append("%s must be a dict with name and to, got %r" % (name, receiver))
            continue
        names.append(receiver.get("name"))
        recipients = receiver.get("to")
        if not isinstance(recipients, list) or not recipients or not all(
                isinstance(address, str) and EMAIL.match(address) for address in recipients):
            errors.append("%s.to must list e-mail addresses, got %r" % (name, recipients))
    if emails:
        smtp = settings.get("smtp") or {}
        if not re.match(r"^[A-Za-z0-9.-]+:[0-9]{1,5}$", str(smtp.get("smarthost") or "")):
            errors.append("%ssmtp.smarthost must be host:port, got %r" % (V, smtp.get("smarthost")))
        if not EMAIL.match(str(smtp.get("from") or "")):
            errors.append("%ssmtp.from must be an e-mail address, got %r" % (V, smtp.get("from")))
        if smtp.get("password") and not settings.get("smtp_password_vaulted"):
            errors.append("%ssmtp.password must come from Ansible Vault (an inline !vault value or a vars file "
                          "encrypted with ansible-vault), not a plain variable" % V)
        if smtp.get("require_tls") is False and not smtp.get("allow_plaintext"):
            errors.append("%ssmtp.require_tls: false sends alerts and the SMTP password in clear; set "
                          "%ssmtp.allow_plaintext: true as well to mean it" % (V, V))
    for index, name in enumerate(names):
        if not isinstance(name, str) or not NAME.match(name):
            errors.append("%s receivers need a name of letters, digits, '.', '_' and '-', got %r" % (V, name))
        elif name in names[:index]:
            errors.append("%s receiver names must be unique: %s is given twice" % (V, name))
    if not names:
        errors.append("%swebhook_receivers or %semail_receivers must name at least one receiver: alerts that reach "
                      "nobody are what this role is for" % (V, V))
    default = settings.get("default_receiver")
    if default and default not in names:
        errors.append("%sdefault_receiver must be one of the receivers (%s), got %r" % (V, ", ".join(map(str, names)), default))
    for index, route in enumerate(settings.get("routes") or []):
        name = "%sroutes[%d]" % (V, index)
        if not isinstance(route, dict) or route.get("receiver") not in names:
            errors.append("%s.receiver must be one of the receivers (%s), got %r"
                          % (name, ", ".join(map(str, names)), route.get("receiver") if isinstance(route, dict) else route))
            continue
        matchers = route.get("matchers")
        if not isinstance(matchers, list) or not matchers or not all(
                isinstance(matcher, str) and MATCHER.match(matcher) for matcher in matchers):
            errors.append('%s.matchers must list Alertmanager matchers such as severity="critical", got %r'
                          % (name, matchers))
    errors.extend(_cluster_errors(settings.get("cluster") or {}, settings.get("central")))
    return errors


def _cluster_errors(cluster, central):
    errors = []
    peers = cluster.get("peers") or []
    if not peers:
        return errors
    if not HOST.match(str(cluster.get("address") or "")):
        errors.append("%scluster_address must be this host's address that its peers reach (default: its default IPv4 "
                      "address), got %r" % (V, cluster.get("address")))
    port = cluster.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        errors.append("%scluster_port must be 1-65535, got %r" % (V, port))
    seen = set()
    for peer in peers:
        if peer.get("host") == central:
            errors.append("%scluster_peers lists this host %s itself: name the other central hosts" % (V, central))
        elif not peer.get("in_play"):
            errors.append("%scluster_peers: %s is not a host of this play (run the role on every central host of "
                          "the cluster together)" % (V, peer.get("host")))
        elif not HOST.match(str(peer.get("address") or "")):
            errors.append("%scluster_peers: %s has no usable cluster address, got %r" % (V, peer.get("host"), peer.get("address")))
        if peer.get("host") in seen:
            errors.append("%scluster_peers: %s is given twice" % (V, peer.get("host")))
        seen.add(peer.get("host"))
    return errors


def _host_port(address, port):
    return "[%s]:%d" % (address, port) if ":" in address else "%s:%d" % (address, port)


def alertmanager_cluster(cluster, tls_dir):
    """Alertmanager's cluster flags and its --cluster.tls-config file (a dict, or None).

    cluster: address (this host's, which its peers reach), port, peers ([{host, address}]). Without peers the
    cluster is off (an empty listen address: no port 9094). With peers, Alertmanager gossips silences and its
    notification log with them over mutual TLS, each side's certificate from the cluster's own CA in tls_dir
    (ca.crt, node.crt, node.key) - not the fleet CA, whose upload certificates fleet hosts hold: a fleet host
    that could join the cluster could silence the fleet's alerts."""
    peers = cluster.get("peers") or []
    if not peers:
        return {"args": "--cluster.listen-address=", "tls_config": None}
    port = cluster["port"]
    here = _host_port(cluster["address"], port)
    args = ["--cluster.listen-address=" + here, "--cluster.advertise-address=" + here]
    args += ["--cluster.peer=" + _host_port(peer["address"], port) for peer in sorted(peers, key=lambda p: p["host"])]
    args.append("--cluster.tls-config=%s/tls.yml" % tls_dir)
    files = {"cert_file": "%s/node.crt" % tls_dir, "key_file": "%s/node.key" % tls_dir}
    tls_config = {
        "tls_server_config": dict(files, client_auth_type="RequireAndVerifyClientCert",
                                  client_ca_file="%s/ca.crt" % tls_dir),
        "tls_client_config": dict(files, ca_file="%s/ca.crt" % tls_dir),
    }
    return {"args": " ".join(args), "tls_config": tls_config}


def file_sd(fleet):
    """Prometheus file_sd targets: each fleet host's nginx, labelled host, shape and groups."""
    targets = []
    for entry in sorted(fleet, key=lambda item: item["host"]):
        address = entry["address"]
        if ":" in address and not address.startswith("["):
            address = "[%s]" % address
        labels = {"host": entry["host"], "shape": entry.get("shape") or "unknown",
                  "groups": ",".join(sorted(entry.get("groups") or []))}
        targets.append({"targets": ["%s:%d" % (address, entry["port"])], "labels": labels})
    return targets


def _webhook(receiver, secrets_dir):
    config = {"url": receiver["url"], "send_resolved": bool(receiver.get("send_resolved", True)),
              "max_alerts": int(receiver.get("max_alerts", 0))}
    http = {}
    if receiver.get("bearer_token"):
        http["authorization"] = {"type": "Bearer", "credentials_file": "%s/%s.token" % (secrets_dir, receiver["name"])}
    if receiver.get("ca"):
        http["tls_config"] = {"ca_file": "%s/%s.ca.pem" % (secrets_dir, receiver["name"])}
    if http:
        config["http_config"] = http
    return config


def alertmanager_config(settings):
    """alertmanager.yml as a dict. settings: webhook_receivers, email_receivers, smtp, default_receiver, routes,
    group_by, group_wait, group_interval, repeat_interval, secrets_dir (where the role writes each webhook's
    NAME.token and NAME.ca.pem and smtp.password: the configuration names the files, never the secrets)."""
    secrets_dir = settings["secrets_dir"]
    receivers = []
    for receiver in settings.get("webhook_receivers") or []:
        receivers.append({"name": receiver["name"], "webhook_configs": [_webhook(receiver, secrets_dir)]})
    for receiver in settings.get("email_receivers") or []:
        receivers.append({"name": receiver["name"], "email_configs": [
            {"to": ", ".join(receiver["to"]), "send_resolved": bool(receiver.get("send_resolved", True))}]})
    config = {}
    smtp = settings.get("smtp") or {}
    if settings.get("email_receivers"):
        config["global"] = {"smtp_smarthost": smtp["smarthost"], "smtp_from": smtp["from"],
                            "smtp_require_tls": smtp.get("require_tls", True) is not False}
        if smtp.get("username"):
            config["global"]["smtp_auth_username"] = smtp["username"]
        if smtp.get("password"):
            config["global"]["smtp_auth_password_file"] = "%s/smtp.password" % secrets_dir
    default = settings.get("default_receiver") or receivers[0]["name"]
    route = {"receiver": default, "group_by": list(settings.get("group_by") or ["alertname", "instance"]),
             "group_wait": settings.get("group_wait", "30s"), "group_interval": settings.get("group_interval", "5m"),
             "repeat_interval": settings.get("repeat_interval", "4h")}
    children = [{"receiver": item["receiver"], "matchers": list(item["matchers"]),
                 "continue": bool(item.get("continue", False))} for item in settings.get("routes") or []]
    if children:
        route["routes"] = children
    config.update({
        "route": route,
        "receivers": receivers,
        # A host that does not answer: its other alerts (stale data, its gateway target down) wait.
        "inhibit_rules": [{"source_matchers": ['alertname="%s"' % HOST_DOWN_ALERT],
                           "target_matchers": ['alertname!="%s"' % HOST_DOWN_ALERT], "equal": ["instance"]}],
    })
    return config
