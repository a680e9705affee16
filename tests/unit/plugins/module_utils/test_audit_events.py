"""Audit log records of the ai_activity_audit rules, as auditd writes them, turned into events."""

import binascii
import socket
import struct

from ansible_collections.llmsec.hardening.plugins.module_utils import audit_events as ae

BLOB = "/usr/share/ollama/.ollama/models/blobs/sha256-" + "3f" * 32
GS = "\x1d"


def hexed(text):
    return binascii.hexlify(text.encode()).decode().upper()


def inet(address, port):
    return (struct.pack("<H", socket.AF_INET) + struct.pack(">H", port) + socket.inet_aton(address)
            + b"\0" * 8).hex().upper()


def inet6(address, port):
    return (struct.pack("<H", socket.AF_INET6) + struct.pack(">H", port) + b"\0" * 4
            + socket.inet_pton(socket.AF_INET6, address) + b"\0" * 4).hex().upper()


def syscall(serial, key, syscall_no=257, uid=1001, comm='"cat"', exe='"/usr/bin/cat"', enriched=True):
    line = ('type=SYSCALL msg=audit(1796300000.120:%d): arch=c000003e syscall=%d success=yes exit=3 a0=ffffff9c '
            'a1=55d0 a2=0 a3=0 items=1 ppid=700 pid=812 auid=1001 uid=%d gid=1001 euid=%d suid=%d fsuid=%d '
            'egid=1001 sgid=1001 fsgid=1001 tty=pts0 ses=3 comm=%s exe=%s subj=unconfined key=%s'
            % (serial, syscall_no, uid, uid, uid, uid, comm, exe, key))
    if enriched:
        line += GS + 'ARCH=x86_64 SYSCALL=openat AUID="mallory" UID="mallory"'
    return line


READ = [syscall(41, '"llmsec_model_read"'),
        'type=CWD msg=audit(1796300000.120:41): cwd="/home/mallory"',
        'type=PATH msg=audit(1796300000.120:41): item=0 name="%s" inode=77 dev=fe:01 mode=0100644 ouid=998 '
        'ogid=998 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0' % BLOB,
        'type=PROCTITLE msg=audit(1796300000.120:41): proctitle=%s' % hexed("cat\0" + BLOB)]


def test_a_read_of_a_blob_becomes_one_event():
    (event,) = ae.events(READ)
    assert (event["key"], event["uid"], event["comm"], event["exe"], event["syscall"]) == (
        "llmsec_model_read", "1001", "cat", "/usr/bin/cat", "257")
    assert event["paths"] == [BLOB] and event["proctitle"] == "cat " + BLOB
    assert event["time"] == 1796300000.12 and event["serial"] == 41


def test_hex_encoded_fields_and_several_keys():
    """A comm with a space and a path with a quote are hex-encoded by auditd; keys are joined by 0x01."""
    lines = [syscall(42, hexed("other\x01llmsec_ai_exec"), syscall_no=59, comm=hexed("my shell"),
                     exe=hexed('/tmp/a "b"'), enriched=False),
             'type=PATH msg=audit(1796300000.120:42): item=0 name=%s inode=1 dev=fe:01' % hexed("/tmp/x y")]
    (event,) = ae.events(lines)
    assert (event["key"], event["comm"], event["exe"], event["paths"]) == (
        "llmsec_ai_exec", "my shell", '/tmp/a "b"', ["/tmp/x y"])


def test_events_of_other_rules_and_noise_are_dropped():
    lines = [syscall(43, '"time_change"'), syscall(44, "(null)"), "not an audit line", "",
             'type=DAEMON_START msg=audit(1796300000.000:1): op=start ver=3.0.9 format=enriched'] + READ
    assert [event["serial"] for event in ae.events(lines)] == [41]


def test_connections_count_only_off_loopback():
    def connect(serial, saddr):
        return [syscall(serial, '"llmsec_ai_connect"', syscall_no=42, uid=998, comm='"ollama"',
                        exe='"/usr/local/bin/ollama"'),
                'type=SOCKADDR msg=audit(1796300000.120:%d): saddr=%s' % (serial, saddr)]

    found = ae.events(connect(50, inet("127.0.0.1", 40123)) + connect(51, inet("203.0.113.9", 443))
                      + connect(52, inet6("::1", 40124)) + connect(53, inet6("2001:db8::1", 443))
                      + connect(54, "0100")  # AF_UNIX: no address
                      + connect(55, inet6("::ffff:127.0.0.1", 40125)) + connect(56, inet("0.0.0.0", 40126)))
    assert [event["address"] for event in found] == [
        ("inet", "127.0.0.1", 40123), ("inet", "203.0.113.9", 443), ("inet6", "::1", 40124),
        ("inet6", "2001:db8::1", 443), None, ("inet6", "::ffff:7f00:1", 40125), ("inet", "0.0.0.0", 40126)]
    assert [event["serial"] for event in found if ae.kept(event)] == [51, 53]


def test_other_keys_are_always_kept():
    (event,) = ae.events(READ)
    assert ae.kept(event)


def test_the_log_is_read_incrementally_through_a_rotation(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text("\n".join(READ[:2]) + "\n")
    lines, state = ae.read_new(str(log), None)
    assert lines == []  # a first run starts at the end: history is not new
    with log.open("a") as handle:
        handle.write("\n".join(READ[2:]) + "\nhalf a rec")
    lines, state = ae.read_new(str(log), state)
    assert lines == READ[2:]  # the half-written record waits
    with log.open("a") as handle:
        handle.write("ord\n")
    log.rename(tmp_path / "audit.log.1")
    log.write_text(READ[0] + "\n")
    lines, state = ae.read_new(str(log), state)
    assert lines == ["half a record", READ[0]]
    assert ae.read_new(str(log), state)[0] == []


def test_run_counts_labels_and_keeps_the_last_events(tmp_path, monkeypatch):
    from ansible_collections.llmsec.hardening.plugins.module_utils import change_window

    monkeypatch.setattr(change_window, "OWNER_UID", __import__("os").geteuid())
    log = tmp_path / "audit.log"
    log.write_text("")
    config = {"audit_log": str(log), "state": str(tmp_path / "state.json"), "textfile": str(tmp_path / "a.prom"),
              "window": str(tmp_path / "window.json")}
    ae.run(config, {})
    write = [syscall(60, '"llmsec_model_write"', uid=998, comm='"ollama"', exe='"/usr/local/bin/ollama"')]
    log.write_text("\n".join(READ + write) + "\n")
    health = {"lost": 3, "enabled": True, "rules_missing": 0}
    found, counts = ae.run(config, {"1001": "mallory", "998": "ollama"}, audit=health, now=1796300100)
    assert [event["serial"] for event in found] == [41, 60]
    assert counts == {("llmsec_model_read", "mallory", "/usr/bin/cat", ""): 1,
                      ("llmsec_model_write", "ollama", "/usr/local/bin/ollama", "closed"): 1}
    metrics = (tmp_path / "a.prom").read_text()
    assert 'llmsec_ai_activity_events_total{key="llmsec_model_read",user="mallory",exe="/usr/bin/cat"} 1' in metrics
    assert ('llmsec_ai_activity_events_total{key="llmsec_model_write",user="ollama",exe="/usr/local/bin/ollama",'
            'window="closed"} 1') in metrics
    assert "llmsec_ai_activity_audit_lost 3" in metrics and "llmsec_ai_activity_audit_enabled 1" in metrics
    assert "llmsec_ai_activity_rules_missing 0" in metrics
    # The same write inside a window; the counters carry on across runs.
    (tmp_path / "window.json").write_text(change_window.render("CHG-1", "ops", 60, now=1796299000))
    with log.open("a") as handle:
        handle.write(write[0].replace(":60)", ":61)") + "\n")
    _found, counts = ae.run(config, {"998": "ollama"}, now=1796300200)
    assert counts[("llmsec_model_write", "ollama", "/usr/local/bin/ollama", "open")] == 1
    assert counts[("llmsec_model_read", "mallory", "/usr/bin/cat", "")] == 1
    state = __import__("json").loads((tmp_path / "state.json").read_text())
    assert [event["serial"] for event in state["last"]] == [41, 60, 61]
    assert oct((tmp_path / "state.json").stat().st_mode & 0o777) == "0o600"
    # What local_ai_facts and the fleet report carry: totals by key, by user, outside a window, the last events.
    summary = ae.summary(str(tmp_path / "state.json"))
    assert (summary["present"], summary["error"], summary["since"]) == (True, None, state["since"])
    assert summary["counts"] == {"llmsec_model_read": 1, "llmsec_model_write": 2}
    assert summary["outside_window"] == {"llmsec_model_write": 1}
    assert summary["by_user"] == {"llmsec_model_read": {"mallory": 1}, "llmsec_model_write": {"ollama": 2}}
    assert [(event["key"], event["uid"], event["paths"]) for event in summary["last"]] == [
        ("llmsec_model_read", "1001", [BLOB]), ("llmsec_model_write", "998", []), ("llmsec_model_write", "998", [])]


def test_summary_of_a_host_without_the_role_or_with_a_broken_state(tmp_path):
    absent = ae.summary(str(tmp_path / "none.json"))
    assert (absent["present"], absent["counts"], absent["error"]) == (False, {}, None)
    (tmp_path / "state.json").write_text('{"counts": [["llmsec_model_read"]]}')
    broken = ae.summary(str(tmp_path / "state.json"))
    assert broken["present"] and broken["counts"] == {} and "state.json" in broken["error"]
    (tmp_path / "state.json").write_text('{"counts": [[["llmsec_model_read", "root", "/usr/bin/cat"], 1]]}')
    assert "state.json" in ae.summary(str(tmp_path / "state.json"))["error"]


STATUS = "enabled 1\nfailure 1\npid 412\nrate_limit 2000\nbacklog_limit 8192\nlost 7\nbacklog 0\n"
RULES = ("-b 8192\n-a always,exit -F arch=b64 -F dir=/m -F perm=r -F uid!=998 -F key=llmsec_model_read\n"
         "-a always,exit -F arch=b32 -F dir=/m -F perm=r -F uid!=998 -F key=llmsec_model_read\n"
         "-w /etc/llmsec -p wa -k llmsec_ai_config\n")
LOADED = ("-a always,exit -F arch=b64 -S open,openat -F dir=/m -F perm=r -F uid!=998 -F key=llmsec_model_read\n"
          "-a always,exit -F arch=b32 -S open,openat -F dir=/m -F perm=r -F uid!=998 -F key=llmsec_model_read\n"
          "-w /etc/llmsec -p wa -k llmsec_ai_config\n-w /etc/ssh -p wa -k someone_else\n")


def test_health_of_the_kernel_audit():
    assert ae.health(STATUS, LOADED, RULES) == {"enabled": True, "lost": 7, "rules_missing": 0}
    # Someone removed a rule (auditctl -D -k llmsec_model_read), or auditing is off, or auditd is dead.
    one_gone = LOADED.split("\n", 1)[1]
    assert ae.health(STATUS, one_gone, RULES)["rules_missing"] == 1
    assert ae.health(STATUS, "No rules\n", RULES)["rules_missing"] == 3
    assert ae.health(STATUS.replace("enabled 1", "enabled 0"), LOADED, RULES)["enabled"] is False
    assert ae.health(STATUS.replace("pid 412", "pid 0"), LOADED, RULES)["enabled"] is False
    assert ae.health(None, None, RULES) == {"enabled": None, "lost": None, "rules_missing": None}
    text = ae.render_metrics({}, 1796300000, ae.health(STATUS.replace("enabled 1", "enabled 2"), one_gone, RULES))
    assert "llmsec_ai_activity_audit_enabled 1\n" in text and "llmsec_ai_activity_rules_missing 1\n" in text
    assert "llmsec_ai_activity_audit_lost" not in ae.render_metrics({}, 1796300000)
