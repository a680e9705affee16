"""Two central hosts (monitoring_server_cluster_peers): Debian's real Alertmanager, run twice on loopback with the
flags and TLS file that fleet_monitoring.alertmanager_cluster makes, gossips a silence from one to the other over
mutual TLS; a third with a certificate of another CA (the fleet CA, whose certificates fleet hosts hold) does not
get into the cluster, and no silence of its reaches the pair."""

import datetime
import ipaddress
import json
import os
import socket
import subprocess
import time
import urllib.request

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.llmsec.hardening.plugins.module_utils import fleet_monitoring as fm

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..")


@pytest.fixture(scope="module")
def alertmanager():
    result = subprocess.run([os.path.join(REPO, "tests", "harness", "promtool.sh"), "alertmanager"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _node(ca, common_name, address):
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name),
                                                        x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _write_tls_dir(directory, ca_cert, node):
    os.makedirs(directory)
    key, cert = node
    with open(os.path.join(directory, "ca.crt"), "wb") as out:
        out.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(directory, "node.crt"), "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(directory, "node.key"), "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))


def _api(port, path, body=None):
    request = urllib.request.Request("http://127.0.0.1:%d/api/v2%s" % (port, path),
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


class Node:
    """One Alertmanager on its own loopback address, started with the role's cluster flags."""

    def __init__(self, binary, tmp_path, name, address, port, peers, ca_cert, node):
        self.name, self.web = name, _free_port()
        tls_dir = str(tmp_path / name)
        _write_tls_dir(tls_dir, ca_cert, node)
        cluster = fm.alertmanager_cluster({"address": address, "port": port, "peers": peers}, tls_dir)
        with open(os.path.join(tls_dir, "tls.yml"), "w", encoding="utf-8") as out:
            yaml.safe_dump(cluster["tls_config"], out)
        config = os.path.join(tls_dir, "alertmanager.yml")
        with open(config, "w", encoding="utf-8") as out:
            yaml.safe_dump({"route": {"receiver": "none"}, "receivers": [{"name": "none"}]}, out)
        self.log = open(os.path.join(tls_dir, "log"), "w+", encoding="utf-8")  # pylint: disable=consider-using-with
        command = [binary, "--config.file=" + config, "--storage.path=" + tls_dir,
                   "--web.listen-address=127.0.0.1:%d" % self.web] + cluster["args"].split()
        # Debian's build reads its templates from /usr/share/prometheus/alertmanager: in a mount namespace of its
        # own, that path is the unpacked package's (promtool.sh), and nothing is installed on this machine.
        share = os.path.join(os.path.dirname(os.path.dirname(binary)), "share", "prometheus")
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             'mount -t tmpfs llmsec-am /usr/share && mkdir /usr/share/prometheus && '
             'mount --bind "$0" /usr/share/prometheus && exec "$@"', share] + command,
            stdout=self.log, stderr=subprocess.STDOUT)

    def peers(self):
        return sorted(peer["address"] for peer in _api(self.web, "/status")["cluster"].get("peers") or [])

    def silences(self):
        return [item["comment"] for item in _api(self.web, "/silences")]

    def silence(self, comment):
        now = datetime.datetime.now(datetime.timezone.utc)
        _api(self.web, "/silences", {"matchers": [{"name": "alertname", "value": ".+", "isRegex": True}],
                                     "startsAt": now.isoformat(), "endsAt": (now + datetime.timedelta(hours=1)).isoformat(),
                                     "createdBy": self.name, "comment": comment})

    def output(self):
        self.log.seek(0)
        return self.log.read()[-3000:]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


def _wait(what, check, timeout=30):
    deadline = time.time() + timeout
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.time() > deadline:
            raise AssertionError("not within %d s: %s" % (timeout, what() if callable(what) else what))
        time.sleep(0.3)


def test_the_flags_without_peers_turn_the_cluster_off():
    assert fm.alertmanager_cluster({"address": "10.0.0.5", "port": 9094, "peers": []}, "/x") == {
        "args": "--cluster.listen-address=", "tls_config": None}


def test_cluster_settings_are_checked():
    cluster = {"address": "", "port": 0, "peers": [{"host": "mon-01", "in_play": True, "address": "10.0.0.5"},
                                                   {"host": "mon-03", "in_play": False, "address": "10.0.0.7"}]}
    errors = fm.settings_errors({"cluster": cluster, "central": "mon-01"})
    assert any(e.startswith("monitoring_server_cluster_address must be") for e in errors)
    assert any(e.startswith("monitoring_server_cluster_port must be 1-65535") for e in errors)
    assert "monitoring_server_cluster_peers lists this host mon-01 itself: name the other central hosts" in errors
    assert any(e.startswith("monitoring_server_cluster_peers: mon-03 is not a host of this play") for e in errors)


def test_a_pair_gossips_over_mutual_tls_and_a_fleet_certificate_cannot_join(alertmanager, tmp_path):
    port = _free_port()
    cluster_ca, fleet_ca = _ca("llmsec alertmanager cluster CA"), _ca("llmsec fleet CA")
    a_addr, b_addr, c_addr = "127.0.0.2", "127.0.0.3", "127.0.0.4"
    nodes = []
    try:
        a = Node(alertmanager, tmp_path, "mon-01", a_addr, port, [{"host": "mon-02", "address": b_addr}],
                 cluster_ca[1], _node(cluster_ca, "mon-01", a_addr))
        nodes.append(a)
        b = Node(alertmanager, tmp_path, "mon-02", b_addr, port, [{"host": "mon-01", "address": a_addr}],
                 cluster_ca[1], _node(cluster_ca, "mon-02", b_addr))
        nodes.append(b)
        expected = ["%s:%d" % (a_addr, port), "%s:%d" % (b_addr, port)]
        _wait(lambda: "both see the pair; a: %s\nb: %s" % (a.output(), b.output()), lambda: a.peers() == expected and b.peers() == expected)
        # What the cluster is for: a silence set on one is kept by the other (and each sends what the other sent).
        a.silence("maintenance of mon-01's fleet")
        _wait("b has a's silence", lambda: b.silences() == ["maintenance of mon-01's fleet"])
        # A fleet host's certificate (the fleet CA signs the upload certificates) trusting the cluster CA even:
        # the pair refuses its handshake, so it cannot join and cannot silence anything.
        c = Node(alertmanager, tmp_path, "intruder", c_addr, port, [{"host": "mon-01", "address": a_addr}],
                 cluster_ca[1], _node(fleet_ca, "intruder", c_addr))
        nodes.append(c)
        _wait(lambda: "the intruder's API answers: " + c.output(), lambda: c.peers() is not None)
        c.silence("silence the whole fleet")
        time.sleep(5)  # ten gossip rounds and more (gossip interval 200 ms; join retried every 10 s)
        assert a.peers() == expected and b.peers() == expected
        assert c.peers() == ["%s:%d" % (c_addr, port)]
        assert a.silences() == b.silences() == ["maintenance of mon-01's fleet"]
    finally:
        for node in nodes:
            node.stop()
