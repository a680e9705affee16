"""Verify ollama_bind from the outside, as an attacker and as an operator would."""

import shlex

import pytest

from scenario_helpers import Refusals, assert_refused, inventory_host, local_ai_findings, name, run_role

HOSTS = ["llmsec-ollama-bind-host", "llmsec-ollama-bind-trixie"]  # Debian 12 and 13
CLIENT = "llmsec-ollama-bind-client"
PORT = 11434
DROPIN = "/etc/systemd/system/ollama.service.d/50-llmsec-ollama-bind.conf"
OVERRIDE = "/etc/systemd/system/ollama.service.d/override.conf"

testinfra_hosts = ["ansible://" + name for name in HOSTS]


@pytest.fixture(scope="module")
def client():
    return inventory_host(CLIENT)


@pytest.fixture(scope="module")
def debian12():
    """For checks that the controller makes before it touches any host: one host is enough."""
    return inventory_host(HOSTS[0])


def listeners(host):
    out = host.check_output("ss -Hltn sport = :%d" % PORT)
    return sorted(line.split()[3] for line in out.splitlines())


def curl_status(host, url, header=None):
    cmd = "curl -s -o /dev/null -w '%%{http_code}' "
    if header:
        return host.check_output(cmd + "-H %s %s", header, url)
    return host.check_output(cmd + "%s", url)


def state(host):
    """What must not change when the role refuses: files and listeners."""
    files = {}
    for path in (DROPIN, OVERRIDE, "/etc/default/ollama"):
        f = host.file(path)
        files[path] = (f.sha256sum, f.mtime) if f.exists else None
    return files, listeners(host)


# --- the effect --------------------------------------------------------------

def test_listens_on_loopback_only(host):
    assert listeners(host) == ["127.0.0.1:%d" % PORT]
    assert host.socket("tcp://127.0.0.1:%d" % PORT).is_listening
    assert not host.socket("tcp://0.0.0.0:%d" % PORT).is_listening
    assert not host.socket("tcp://:::%d" % PORT).is_listening


def test_second_container_cannot_reach_the_api(host, client):
    # The prepare step proved this same request succeeded before converge.
    result = client.run("curl -sS -m 5 http://%s:%s/api/version", name(host), str(PORT))
    assert result.rc == 7, result.stdout + result.stderr  # 7 = could not connect


def test_systemd_holds_the_values(host):
    env = shlex.split(host.check_output("systemctl show ollama -p Environment --value"))
    assert "OLLAMA_HOST=127.0.0.1:%d" % PORT in env
    assert "OLLAMA_ORIGINS=https://chat.example.com" in env
    assert "OLLAMA_KEEP_ALIVE=10m" in env  # the user's other settings survive
    # prepare's override.conf turned debug logging on; the managed drop-in turns it off
    assert "OLLAMA_DEBUG=1" not in env and "OLLAMA_DEBUG=" in env and "OLLAMA_DEBUG_LOG_REQUESTS=" in env


def prompt_leaks(host, secret):
    """Where a prompt sent now ends up on disk: the service's journal, Ollama's request-log directories."""
    body = '{"model": "tiny:1b", "prompt": "%s", "stream": false}' % secret
    host.check_output("curl -sf -o /dev/null http://127.0.0.1:%s/api/generate -d %s", str(PORT), body)
    places = []
    if host.run("journalctl -u ollama -o cat --no-pager | grep -q %s", secret).rc == 0:
        places.append("journal")
    if host.run("grep -rqs %s /tmp/ollama-request-logs-*", secret).rc == 0:
        places.append("request logs")
    return places


def test_debug_logging_off_by_default_prompts_stay_out_of_logs(host):
    """Turn debug on again the way people do (a drop-in of their own): with ollama_bind_allow_debug the prompt
    lands in the journal and in OLLAMA_DEBUG_LOG_REQUESTS' files, and the audit says so; a default run takes
    both out (with a backup), the next prompt lands nowhere and the finding is gone."""
    site = "/etc/systemd/system/ollama.service.d/80-site-debug.conf"
    host.check_output("ollama pull tiny:1b")
    host.run_test("printf '[Service]\\nEnvironment=OLLAMA_DEBUG=1 OLLAMA_DEBUG_LOG_REQUESTS=1\\n' > %s", site)
    try:
        allowed = run_role(host, {"ollama_bind_allow_debug": True})
        assert allowed.returncode == 0, allowed.stdout[-3000:]
        assert prompt_leaks(host, "before-%s" % name(host)) == ["journal", "request logs"]
        assert local_ai_findings(host)["debug_logging"][0]["settings"] == [
            "OLLAMA_DEBUG=1", "OLLAMA_DEBUG_LOG_REQUESTS=1"]

        fixed = run_role(host, {})
        assert fixed.returncode == 0, fixed.stdout[-3000:]
        active = [line for line in host.file(site).content_string.splitlines() if not line.startswith("#")]
        assert not any("OLLAMA_DEBUG" in line for line in active), active  # commented out, with a note
        assert prompt_leaks(host, "after-%s" % name(host)) == []
        assert "debug_logging" not in local_ai_findings(host)
    finally:
        host.run("rm -f %s %s.*~ && systemctl daemon-reload", site, site)


def test_override_conf_fixed_with_backup(host):
    override = host.file(OVERRIDE).content_string
    assert 'Environment="OLLAMA_HOST=0.0.0.0"' not in override.replace("# Environment", "")
    assert "llmsec.hardening: disabled OLLAMA_HOST" in override
    backups = host.check_output("ls /etc/systemd/system/ollama.service.d/").split()
    backup = [name for name in backups if name.startswith("override.conf.") and name.endswith("~")]
    assert backup, backups
    original = host.file("/etc/systemd/system/ollama.service.d/" + backup[0]).content_string
    assert 'Environment="OLLAMA_HOST=0.0.0.0"' in original


def test_disallowed_origin_gets_403(host):
    url = "http://127.0.0.1:%d/api/version" % PORT
    assert curl_status(host, url, "Origin: https://evil.example.com") == "403"


def test_allowed_origin_gets_200(host):
    url = "http://127.0.0.1:%d/api/version" % PORT
    assert curl_status(host, url, "Origin: https://chat.example.com") == "200"
    assert curl_status(host, url) == "200"


# --- refusals: clear error, nothing changed ------------------------------------

BAD_INPUT = [
    ({"ollama_bind_address": "0.0.0.0"}, "ollama_bind_address is 0.0.0.0, which other hosts can reach"),
    ({"ollama_bind_address": "10.1.2.3"}, "ollama_bind_allow_remote: true"),
    ({"ollama_bind_address": "10.0.0.300"}, "ollama_bind_address: '10.0.0.300' is not an IPv4/IPv6 address"),
    ({"ollama_bind_address": "ollama.example.com"}, "ollama_bind_address: 'ollama.example.com' is not"),
    ({"ollama_bind_port": 70000}, "ollama_bind_port must be a TCP port from 1 to 65535"),
    ({"ollama_bind_port": 0}, "ollama_bind_port must be a TCP port from 1 to 65535"),
    ({"ollama_bind_port": "http"}, "ollama_bind_port"),
    ({"ollama_bind_origins": ["*"]}, "ollama_bind_origins: '*' allows every web page"),
    ({"ollama_bind_origins": ["http://*"]}, "ollama_bind_origins: 'http://*' matches every host"),
    ({"ollama_bind_origins": "https://a.example"}, "ollama_bind_origins"),
    ({"ollama_bind_conflicts": "ignore"}, "ollama_bind_conflicts"),
]
MISSING_SERVICE = ({"ollama_bind_service_name": "nollama"}, "ollama_bind_service_name: no systemd unit 'nollama'")


@pytest.fixture(scope="module")
def bad_input(debian12):
    """Every refusal case in one Ansible run on Debian 12 (the controller checks the input before it touches a
    host; the missing unit is the same systemd query on both releases), with the host's state around it."""
    return Refusals(debian12, BAD_INPUT + [MISSING_SERVICE], lambda: state(debian12))


@pytest.mark.parametrize("extra_vars, message", BAD_INPUT + [MISSING_SERVICE])
def test_bad_input_is_refused_before_any_change(bad_input, extra_vars, message):
    bad_input.check(extra_vars, message)


def test_environment_file_conflict(host):
    """An EnvironmentFile beats every drop-in: fail names it, fix takes it out."""
    host.run_test("printf 'OLLAMA_HOST=0.0.0.0:11434\\nOLLAMA_KEEP_ALIVE=5m\\n' > /etc/default/ollama")
    host.run_test("printf '[Service]\\nEnvironmentFile=-/etc/default/ollama\\n' "
                  "> /etc/systemd/system/ollama.service.d/90-site.conf && systemctl daemon-reload")
    try:
        before = state(host)
        assert_refused(run_role(host, {"ollama_bind_conflicts": "fail"}),
                       "/etc/default/ollama:1 sets OLLAMA_HOST=0.0.0.0:11434")
        assert state(host) == before

        fixed = run_role(host, {})
        assert fixed.returncode == 0, fixed.stdout[-3000:]
        content = host.file("/etc/default/ollama").content_string
        assert "\nOLLAMA_HOST=0.0.0.0" not in "\n" + content
        assert "OLLAMA_KEEP_ALIVE=5m" in content
        assert listeners(host) == ["127.0.0.1:%d" % PORT]
        again = run_role(host, {})
        assert "changed=0" in again.stdout, again.stdout[-2000:]
    finally:
        host.run("rm -f /etc/systemd/system/ollama.service.d/90-site.conf && systemctl daemon-reload")


# --- other addresses: IPv6 loopback, and a deliberate remote bind -----------------

def test_ipv6_loopback_then_a_remote_bind_only_when_allowed(host, client):
    """One walk through the other addresses (a role run each, then one to restore): [::1], then the host's own
    address with ollama_bind_allow_remote, then back to 127.0.0.1."""
    address = host.check_output("hostname -I").split()[0]
    try:
        result = run_role(host, {"ollama_bind_address": "::1"})
        assert result.returncode == 0, result.stdout[-3000:]
        assert listeners(host) == ["[::1]:%d" % PORT]
        env = shlex.split(host.check_output("systemctl show ollama -p Environment --value"))
        assert "OLLAMA_HOST=[::1]:%d" % PORT in env
        assert host.run("curl -s -g -o /dev/null http://[::1]:%d/api/version" % PORT).rc == 0
        assert client.run("curl -sS -m 5 http://%s:%s/", name(host), str(PORT)).rc == 7

        result = run_role(host, {"ollama_bind_address": address, "ollama_bind_allow_remote": True})
        assert result.returncode == 0, result.stdout[-3000:]
        assert listeners(host) == ["%s:%d" % (address, PORT)]
        assert client.run("curl -sS -m 5 http://%s:%s/api/version", name(host), str(PORT)).rc == 0
    finally:
        restored = run_role(host, {})
        assert restored.returncode == 0, restored.stdout[-3000:]
    assert listeners(host) == ["127.0.0.1:%d" % PORT]
    assert client.run("curl -sS -m 5 http://%s:%s/api/version", name(host), str(PORT)).rc == 7
