"""llmsec-fleet-audit's matching: a text found by its HMAC under each record's key id, per host file."""

import hashlib
import hmac
import json

from ansible_collections.llmsec.hardening.plugins.module_utils import fleet_audit as fa

OLD, NEW = b"o" * 32, b"n" * 32


def entry(record, identifier="llmsec-gateway"):
    return {"SYSLOG_IDENTIFIER": identifier, "MESSAGE": json.dumps(record)}


def digest(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def test_found_under_the_key_of_its_time_on_its_host_only():
    text = "the quarterly numbers"
    hosts = {
        "ws-001": [entry({"key_id": "1", "prompt_hmacs": [digest(OLD, text)], "subject": "alice", "time": "t1"}),
                   entry({"key_id": "2", "prompt_hmacs": [digest(NEW, "other")], "response_hmac": digest(NEW, text),
                          "subject": "bob", "time": "t2"})],
        "ws-002": [entry({"key_id": "2", "prompt_hmacs": [digest(NEW, "other")]}),
                   # A line the host wrote under another identifier is not the gateway's, whatever it says.
                   entry({"key_id": "2", "prompt_hmacs": [digest(NEW, text)]}, identifier="logger"),
                   {"SYSLOG_IDENTIFIER": "llmsec-gateway", "MESSAGE": "not json"},
                   entry({"key_id": "9", "prompt_hmacs": [digest(b"x" * 32, text)]})],
    }
    found, unknown = fa.find(text, {"1": OLD, "2": NEW}, hosts)
    assert [(hit["host"], hit["subject"], hit["as"], hit["key_id"]) for hit in found] == [
        ("ws-001", "alice", ["prompt"], "1"), ("ws-001", "bob", ["response"], "2")]
    assert unknown == 1


def test_host_files_by_name_rotated_included(tmp_path):
    for name in ("ws-001.journal", "ws-001@0005f-0001.journal", "ws-002.journal~", "../evil.journal", "notes.txt"):
        if "/" not in name:
            (tmp_path / name).write_bytes(b"")
    assert {host: len(files) for host, files in fa.host_files(str(tmp_path)).items()} == {"ws-001": 2, "ws-002": 1}


def test_key_ring_errors(tmp_path):
    ring = tmp_path / "keys.json"
    ring.write_text("{}")
    try:
        fa.load_keys(str(ring))
        raise AssertionError("an empty ring was accepted")
    except fa.AuditError as exc:
        assert "must map key ids to keys" in str(exc)
    ring.write_text('{"1": "k"}')
    assert fa.load_keys(str(ring)) == {"1": b"k"}
