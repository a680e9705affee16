"""nginx_tls_proxy's checks: each broken rule gives one message naming its variable."""

import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import nginx_proxy

GOOD = {
    "upstream": "127.0.0.1:11434", "gateway_upstream": "unix:/run/llmsec-gateway/api.sock", "gateway": True, "https_port": 443,
    "http_port": 80, "server_names": ["ollama.example.com", "*.ai.example.com"], "ip_addresses": ["192.0.2.1", "::1"],
    "auth": "basic", "basic_users": [{"name": "ops", "password": "s3cret"}], "mtls_clients": [],
    "cert_source": "internal", "certificate": "", "private_key": "", "certificate_path": "", "private_key_path": "",
    "acme_email": "", "acme_server": "https://acme-v02.api.letsencrypt.org/directory",
    "read_endpoints": ["/api/chat", "/v1/"], "admin_endpoints": ["/api/pull"], "rate_per_address": 10,
    "rate_per_user": 5, "burst_per_address": 20, "burst_per_user": 0, "conn_per_address": 20,
    "client_max_body_size": "16m", "admin_client_max_body_size": "8g", "read_timeout": "600s",
    "client_timeout": "60s", "cert_days": 365, "cert_renew_days": 30, "hsts_max_age": 0,
    "cors_origins": ["https://chat.example.com"], "pki_dir": "/etc/llmsec/pki",
    "fleet_metrics_ca": "", "fleet_metrics_scrapers": ["llmsec-fleet-scraper"], "fleet_metrics_node": "127.0.0.1:9100",
    "fleet_metrics_gateway": "127.0.0.1:9470",
}
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_sound_settings_pass():
    assert nginx_proxy.errors(GOOD) == []
    assert nginx_proxy.errors(dict(GOOD, fleet_metrics_ca=CA)) == []


@pytest.mark.parametrize("change, variable", [
    ({"upstream": "localhost"}, "nginx_tls_proxy_upstream "),
    ({"gateway_upstream": "unix:relative"}, "nginx_tls_proxy_gateway_upstream "),
    ({"auth": "jwt", "gateway": False}, "nginx_tls_proxy_gateway "),
    ({"https_port": 70000}, "nginx_tls_proxy_https_port "),
    ({"http_port": 443}, "nginx_tls_proxy_http_port must differ"),
    ({"server_names": []}, "nginx_tls_proxy_server_names "),
    ({"server_names": ["bad name"]}, "nginx_tls_proxy_server_names "),
    ({"ip_addresses": ["10.0.0.0/8"]}, "nginx_tls_proxy_ip_addresses "),
    ({"basic_users": []}, "nginx_tls_proxy_basic_users must list"),
    ({"basic_users": [{"name": "a", "password": ""}]}, "nginx_tls_proxy_basic_users "),
    ({"basic_users": [{"name": "a", "password": "x"}, {"name": "a", "password": "y"}]}, "nginx_tls_proxy_basic_users "),
    ({"auth": "mtls", "mtls_clients": [{"name": "bad name"}]}, "nginx_tls_proxy_mtls_clients "),
    ({"cert_source": "provided"}, "nginx_tls_proxy_certificate "),
    ({"cert_source": "provided", "certificate_path": "cert.pem", "private_key_path": "/k"},
     "nginx_tls_proxy_certificate "),
    ({"cert_source": "acme", "server_names": ["ollama.example.com"]}, "nginx_tls_proxy_acme_email "),
    ({"cert_source": "acme", "acme_email": "a@example.com", "server_names": ["*.example.com"]},
     "nginx_tls_proxy_server_names may not hold wildcards"),
    ({"cert_source": "acme", "acme_email": "a@example.com", "server_names": ["x.example.com"], "http_port": 8080},
     "nginx_tls_proxy_http_port must be 80"),
    ({"read_endpoints": ["api/chat"]}, "nginx_tls_proxy_read_endpoints "),
    ({"admin_endpoints": ["/api/chat"]}, "nginx_tls_proxy_admin_endpoints may not repeat"),
    ({"rate_per_user": 0}, "nginx_tls_proxy_rate_per_user "),
    ({"burst_per_address": -1}, "nginx_tls_proxy_burst_per_address "),
    ({"client_max_body_size": "16 MB"}, "nginx_tls_proxy_client_max_body_size "),
    ({"read_timeout": "ten minutes"}, "nginx_tls_proxy_read_timeout "),
    ({"cert_renew_days": 400}, "nginx_tls_proxy_cert_days "),
    ({"cors_origins": ["*"]}, "nginx_tls_proxy_cors_origins must hold"),
    ({"fleet_metrics_ca": "not a certificate"}, "nginx_tls_proxy_fleet_metrics_ca must be the fleet CA"),
    ({"fleet_metrics_ca": CA + "-----BEGIN PRIVATE KEY-----"}, "nginx_tls_proxy_fleet_metrics_ca must be the fleet CA"),
    ({"fleet_metrics_ca": CA, "auth": "mtls", "mtls_clients": [{"name": "ops"}]},
     "nginx_tls_proxy_fleet_metrics_ca cannot be combined with nginx_tls_proxy_auth mtls"),
    ({"fleet_metrics_ca": CA, "fleet_metrics_scrapers": []}, "nginx_tls_proxy_fleet_metrics_scrapers "),
    ({"fleet_metrics_ca": CA, "fleet_metrics_scrapers": ['x" 1; "SUCCESS CN=evil']}, "nginx_tls_proxy_fleet_metrics_scrapers "),
    ({"fleet_metrics_ca": CA, "fleet_metrics_node": "0.0.0.0"}, "nginx_tls_proxy_fleet_metrics_node "),
])
def test_each_broken_rule_names_its_variable(change, variable):
    errors = nginx_proxy.errors(dict(GOOD, **change))
    assert len(errors) == 1 and errors[0].startswith(variable), errors


def test_passwords_never_appear_in_messages():
    errors = nginx_proxy.errors(dict(GOOD, basic_users=[{"name": "ops", "password": "s3cret"},
                                                        {"name": "ops", "password": "hunter2"}]))
    assert errors and "s3cret" not in errors[0] and "hunter2" not in errors[0]


@pytest.mark.parametrize("change, acme_live, expected", [
    ({}, False, ("/etc/llmsec/pki/server.crt", "/etc/llmsec/pki/private/server.key", False)),
    ({"cert_source": "provided", "certificate": "PEM", "private_key": "PEM"}, False,
     ("/etc/llmsec/nginx/server.crt", "/etc/llmsec/nginx/server.key", True)),
    ({"cert_source": "provided", "certificate_path": "/c.pem", "private_key_path": "/k.pem"}, False,
     ("/c.pem", "/k.pem", False)),
    ({"cert_source": "acme"}, False, ("/etc/llmsec/pki/server.crt", "/etc/llmsec/pki/private/server.key", False)),
    ({"cert_source": "acme"}, True, ("/etc/letsencrypt/live/ollama.example.com/fullchain.pem",
                                     "/etc/letsencrypt/live/ollama.example.com/privkey.pem", False)),
])
def test_certificate_files(change, acme_live, expected):
    assert nginx_proxy.certificate_files(dict(GOOD, **change), "/etc/llmsec/nginx", acme_live) == expected
