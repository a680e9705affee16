"""monitoring_server's checks, file_sd targets and Alertmanager configuration."""

import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import fleet_monitoring as fm

FLEET = [{"host": "ws-001", "address": "ws-001.corp.example.com", "port": 443, "tls": True, "shape": "native",
          "groups": ["ollama_native", "ollama_servers"], "gateway": True},
         {"host": "gpu-01", "address": "10.0.0.7", "port": 8443, "tls": True, "shape": "container",
          "groups": ["ollama_container"], "gateway": False}]
GOOD = {
    "fleet": FLEET, "fleet_hosts": ["ws-001", "gpu-01"], "central": "mon-01",
    "webhook_receivers": [{"name": "soc", "url": "https://soc.example.com/hook", "bearer_token": "t0ken"}],
    "email_receivers": [], "smtp": {}, "smtp_password_vaulted": False, "unvaulted_tokens": [],
    "default_receiver": "", "routes": [],
    "durations": {"scrape_interval": "30s", "target_down_for": "2m", "integrity_max_age": "26h"},
    "posture_threshold": 70, "certificate_warn_days": 14, "scraper_name": "llmsec-fleet-scraper",
}
MAIL = {"email_receivers": [{"name": "oncall", "to": ["oncall@example.com"]}],
        "smtp": {"smarthost": "smtp.example.com:587", "from": "alerts@example.com", "username": "alerts",
                 "password": "pw"}, "smtp_password_vaulted": True}


def test_sound_settings_pass():
    assert fm.settings_errors(GOOD) == []
    assert fm.settings_errors(dict(GOOD, **MAIL)) == []


@pytest.mark.parametrize("change, start", [
    ({"fleet": []}, "monitoring_server_fleet_hosts must list"),
    ({"fleet": [dict(FLEET[0], tls=False)]}, "monitoring_server_fleet_hosts: ws-001 has no certificate"),
    ({"fleet": [dict(FLEET[0], host="mon-01")]}, "monitoring_server_fleet_hosts lists the central host mon-01"),
    ({"fleet": [dict(FLEET[0], port=0)]}, "monitoring_server_fleet_hosts: ws-001's HTTPS port"),
    ({"webhook_receivers": [{"name": "soc", "url": "http://soc.example.com/hook"}]},
     "monitoring_server_webhook_receivers[0].url must be https://"),
    ({"webhook_receivers": [{"name": "soc", "url": "ftp://x"}]}, "monitoring_server_webhook_receivers[0].url must be an https"),
    ({"unvaulted_tokens": ["soc"]}, "monitoring_server_webhook_receivers[0].bearer_token must come from Ansible Vault"),
    (dict(MAIL, smtp_password_vaulted=False), "monitoring_server_smtp.password must come from Ansible Vault"),
    (dict(MAIL, smtp=dict(MAIL["smtp"], smarthost="smtp.example.com")), "monitoring_server_smtp.smarthost"),
    (dict(MAIL, smtp=dict(MAIL["smtp"], require_tls=False)), "monitoring_server_smtp.require_tls: false"),
    (dict(MAIL, email_receivers=[{"name": "oncall", "to": "oncall@example.com"}]), "monitoring_server_email_receivers[0].to"),
    ({"webhook_receivers": [], "email_receivers": []}, "monitoring_server_webhook_receivers or"),
    ({"webhook_receivers": GOOD["webhook_receivers"] * 2}, "monitoring_server_ receiver names must be unique"),
    ({"default_receiver": "nobody"}, "monitoring_server_default_receiver must be one of"),
    ({"routes": [{"matchers": ['severity="critical"'], "receiver": "x"}]}, "monitoring_server_routes[0].receiver"),
    ({"routes": [{"matchers": ["severity critical"], "receiver": "soc"}]}, "monitoring_server_routes[0].matchers"),
    ({"durations": {"target_down_for": "2 minutes"}}, "monitoring_server_target_down_for must be a duration"),
    ({"posture_threshold": 0}, "monitoring_server_posture_threshold"),
    ({"certificate_warn_days": "14"}, "monitoring_server_certificate_warn_days"),
    ({"scraper_name": 'x" 1; "SUCCESS CN=y'}, "monitoring_server_scraper_name"),
])
def test_each_broken_setting_names_its_variable(change, start):
    errors = fm.settings_errors(dict(GOOD, **change))
    assert len(errors) == 1 and errors[0].startswith(start), errors


def test_http_receiver_with_explicit_opt_out_passes():
    webhook = {"name": "lab", "url": "http://10.0.0.9:9000/hook", "allow_http": True}
    assert fm.settings_errors(dict(GOOD, webhook_receivers=[webhook])) == []


def test_file_sd_labels_each_host():
    assert fm.file_sd(FLEET) == [
        {"targets": ["10.0.0.7:8443"], "labels": {"host": "gpu-01", "shape": "container", "groups": "ollama_container"}},
        {"targets": ["ws-001.corp.example.com:443"],
         "labels": {"host": "ws-001", "shape": "native", "groups": "ollama_native,ollama_servers"}}]
    assert fm.file_sd([dict(FLEET[0], address="2001:db8::7")])[0]["targets"] == ["[2001:db8::7]:443"]


def test_alertmanager_names_secret_files_never_secrets():
    settings = dict(GOOD, **MAIL)
    settings["webhook_receivers"] = [dict(GOOD["webhook_receivers"][0], ca="PEM")]
    settings.update(secrets_dir="/etc/prometheus/llmsec-alertmanager", routes=[
        {"matchers": ['severity="critical"'], "receiver": "oncall", "continue": True}])
    config = fm.alertmanager_config(settings)
    assert "t0ken" not in repr(config) and "'pw'" not in repr(config)
    webhook = config["receivers"][0]["webhook_configs"][0]
    assert webhook["http_config"] == {
        "authorization": {"type": "Bearer", "credentials_file": "/etc/prometheus/llmsec-alertmanager/soc.token"},
        "tls_config": {"ca_file": "/etc/prometheus/llmsec-alertmanager/soc.ca.pem"}}
    assert config["global"]["smtp_auth_password_file"] == "/etc/prometheus/llmsec-alertmanager/smtp.password"
    assert config["global"]["smtp_require_tls"] is True
    assert config["route"]["receiver"] == "soc" and config["route"]["routes"] == [
        {"receiver": "oncall", "matchers": ['severity="critical"'], "continue": True}]
    assert config["inhibit_rules"] == [{"source_matchers": ['alertname="LlmsecFleetHostDown"'],
                                        "target_matchers": ['alertname!="LlmsecFleetHostDown"'], "equal": ["instance"]}]
