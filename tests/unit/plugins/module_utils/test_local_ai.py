"""local_ai: discovery and findings on a fake /proc tree."""

import os
import re

import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import local_ai

BLOB = "sha256-" + "ab" * 32
HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def tcp_line(hex_address, port, inode, state="0A"):
    return "   0: %s:%04X 00000000:0000 %s 00000000:00000000 00:00000000 00000000  0  0 %s 1\n" % (
        hex_address, port, state, inode)


class FakeHost:
    def __init__(self, root):
        self.root = root
        (root / "etc").mkdir()
        (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\nollama:x:998:998::/usr/share/ollama:/bin/false\n")

    def process(self, pid, cmdline, exe, uid=998, tcp=(), tcp6=(), fds=(), maps=(), env=None, cgroup="0::/",
                netns=None, status="", mounts=None, exe_bytes=None):
        base = self.root / "proc" / str(pid)
        (base / "fd").mkdir(parents=True)
        (base / "net").mkdir()
        if netns:
            (base / "ns").mkdir()
            os.symlink("net:[%s]" % netns, base / "ns" / "net")
        (base / "cmdline").write_bytes(b"\0".join(part.encode() for part in cmdline) + b"\0")
        exe_path = self.root / exe.lstrip("/")
        exe_path.parent.mkdir(parents=True, exist_ok=True)
        if exe_bytes is not None:
            exe_path.write_bytes(exe_bytes)
        elif not exe_path.exists():
            exe_path.write_bytes(b"\x7fELF" + exe.encode())
        os.symlink(exe_path, base / "exe")
        (base / "status").write_text("Name:\tx\nUid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\nGroups:\t\n" % ((uid,) * 8)
                                     + status)
        if mounts is not None:
            (base / "mountinfo").write_text(mounts)
        (base / "cgroup").write_text(cgroup + "\n")
        (base / "environ").write_bytes(b"\0".join(("%s=%s" % item).encode() for item in (env or {}).items()))
        (base / "net" / "tcp").write_text(HEADER + "".join(tcp))
        (base / "net" / "tcp6").write_text(HEADER + "".join(tcp6))
        for number, target in enumerate(fds, start=3):
            os.symlink(target, base / "fd" / str(number))
        (base / "maps").write_text("".join("7f00-7f10 r--s 00000000 08:01 1234  %s\n" % path for path in maps))
        return base

    def model(self, path, mode=0o644, dir_mode=0o755, uid=None):
        full = self.root / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(b"GGUF")
        os.chmod(full, mode)
        os.chmod(full.parent, dir_mode)
        return path


@pytest.fixture
def host(tmp_path):
    return FakeHost(tmp_path)


@pytest.fixture(autouse=True)
def no_live_probe(monkeypatch):
    """The fake servers listen nowhere real: the local-user probe answers what each test says (nothing here)."""
    monkeypatch.setattr(local_ai, "local_user_can_connect", lambda address, port: None)


def kinds(findings):
    return sorted(item["kind"] for item in findings)


def test_ollama_on_all_interfaces_is_found_with_its_details(host):
    host.process(812, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama",
                 tcp=[tcp_line("00000000", 11434, "5555")], fds=["socket:[5555]", "/dev/null"],
                 env={"OLLAMA_HOST": "0.0.0.0", "OLLAMA_ORIGINS": "https://a.example, *", "PATH": "/bin"},
                 cgroup="0::/system.slice/ollama.service")
    servers, findings = local_ai.scan(str(host.root))
    (server,) = servers
    assert server["kind"] == "ollama" and server["pid"] == 812 and server["user"] == "ollama"
    assert server["listeners"] == [{"address": "0.0.0.0", "port": 11434}]
    assert server["unit"] == "ollama.service" and server["container"] is None
    assert server["environment"] == {"OLLAMA_HOST": "0.0.0.0", "OLLAMA_ORIGINS": "https://a.example, *"}
    assert len(server["exe_sha256"]) == 64
    assert kinds(findings) == ["nonloopback_listener", "wildcard_origins"]
    listener = next(item for item in findings if item["kind"] == "nonloopback_listener")
    assert listener["address"] == "0.0.0.0:11434" and listener["severity"] == "high" and listener["fix"]


def test_loopback_only_and_sockets_of_other_processes(host):
    host.process(10, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama",
                 tcp=[tcp_line("0100007F", 11434, "7"), tcp_line("00000000", 22, "8")], fds=["socket:[7]"],
                 tcp6=[tcp_line("00000000000000000000000001000000", 11434, "9")])
    servers, findings = local_ai.scan(str(host.root))
    assert servers[0]["listeners"] == [{"address": "127.0.0.1", "port": 11434}]  # sshd's socket is not its own
    assert findings == []


def test_ipv6_wildcard_and_v4_mapped(host):
    host.process(11, ["/opt/llama-server", "-m", "/m/x.gguf", "--host", "::"], "/opt/llama-server",
                 tcp6=[tcp_line("00000000000000000000000000000000", 8080, "21"),
                       tcp_line("0000000000000000FFFF00000100007F", 8081, "22")],
                 fds=["socket:[21]", "socket:[22]"])
    servers, findings = local_ai.scan(str(host.root))
    assert servers[0]["kind"] == "llama.cpp"
    assert servers[0]["listeners"] == [{"address": "127.0.0.1", "port": 8081}, {"address": "::", "port": 8080}]
    assert [item["address"] for item in findings] == ["[::]:8080"]


@pytest.mark.parametrize("cmdline, exe, kind", [
    (["/usr/bin/ollama", "runner", "--model", "/x"], "/usr/bin/ollama", "ollama"),
    (["/usr/bin/python3", "/usr/local/bin/ollama", "serve"], "/usr/bin/python3.11", "ollama"),
    (["/usr/bin/python3", "-m", "vllm.entrypoints.openai.api_server"], "/usr/bin/python3.11", "vllm"),
    (["/home/u/.local/bin/vllm", "serve", "m"], "/usr/bin/python3.11", "vllm"),
    (["/opt/LM Studio/lm-studio"], "/opt/LM Studio/lm-studio", "lmstudio"),
    (["/home/u/.lmstudio/bin/lms", "server", "start"], "/home/u/.lmstudio/bin/lms", "lmstudio"),
    (["/usr/bin/local-ai", "run"], "/usr/bin/local-ai", "localai"),
    (["text-generation-launcher", "--model-id", "x"], "/usr/bin/text-generation-launcher", "tgi"),
    (["./koboldcpp-linux-x64", "--model", "m.gguf"], "/opt/koboldcpp-linux-x64", "koboldcpp"),
    (["/usr/sbin/sshd", "-D"], "/usr/sbin/sshd", None),
    (["/usr/bin/python3", "/srv/app.py", "--ollama-url", "http://x"], "/usr/bin/python3.11", None),
])
def test_classify(cmdline, exe, kind):
    assert local_ai.classify(cmdline, exe) == kind


def test_root_runner_is_not_reported_but_root_server_is(host):
    host.process(20, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama", uid=0)
    host.process(21, ["/usr/local/bin/ollama", "runner", "--model", "x"], "/usr/local/bin/ollama", uid=0)
    _servers, findings = local_ai.scan(str(host.root))
    assert [(item["kind"], item["pid"]) for item in findings] == [("running_as_root", 20)]


def test_models_open_writable_and_unapproved(host):
    store = "/usr/share/ollama/.ollama/models/blobs/"
    writable = host.model(store + BLOB, mode=0o644)  # owned by root here; its directory is world-writable
    host.model("/srv/models/ro.gguf", mode=0o444, dir_mode=0o555)
    os.chmod(host.root / store.strip("/"), 0o777)
    host.process(30, ["/usr/local/bin/ollama", "runner"], "/usr/local/bin/ollama",
                 maps=[writable, "/usr/lib/libc.so.6"], fds=["/srv/models/ro.gguf"])
    servers, findings = local_ai.scan(str(host.root), approved_digests={"cd" * 32})
    assert servers[0]["models"] == sorted([writable, "/srv/models/ro.gguf"])
    assert kinds(findings) == ["unapproved_model_loaded", "writable_model"]
    assert next(item for item in findings if item["kind"] == "writable_model")["path"] == writable
    _servers, findings = local_ai.scan(str(host.root), approved_digests={"ab" * 32})
    assert kinds(findings) == ["writable_model"]


def test_docker_published_ai_port(host):
    host.process(40, ["/usr/bin/docker-proxy", "-proto", "tcp", "-host-ip", "0.0.0.0", "-host-port", "11434",
                      "-container-ip", "172.17.0.2", "-container-port", "11434"], "/usr/bin/docker-proxy")
    host.process(41, ["/usr/bin/docker-proxy", "-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", "11435",
                      "-container-ip", "172.17.0.3", "-container-port", "11434"], "/usr/bin/docker-proxy")
    host.process(42, ["/usr/bin/docker-proxy", "-proto", "tcp", "-host-ip", "0.0.0.0", "-host-port", "443",
                      "-container-ip", "172.17.0.4", "-container-port", "443"], "/usr/bin/docker-proxy")
    servers, findings = local_ai.scan(str(host.root))
    assert servers == []
    assert [(item["kind"], item["address"]) for item in findings] == [("docker_published_ai_port", "0.0.0.0:11434")]


def test_container_process(host):
    host.process(50, ["/bin/ollama", "serve"], "/bin/ollama",
                 cgroup="0::/system.slice/docker-0123456789abcdef0123456789abcdef.scope")
    host.process(51, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama",
                 cgroup="0::/system.slice/docker-fedcba9876543210fedcba9876543210.scope/system.slice/ollama.service")
    servers, _findings = local_ai.scan(str(host.root))
    assert servers[0]["container"] == "0123456789ab" and servers[0]["unit"] is None
    assert servers[1]["container"] == "fedcba987654" and servers[1]["unit"] == "ollama.service"


def test_listener_in_a_containers_own_namespace_is_not_off_loopback(host):
    """0.0.0.0 inside a bridge-networked container is the namespace's; the publish is what reaches the network."""
    host.process(1, ["/lib/systemd/systemd"], "/lib/systemd/systemd", uid=0, netns=4026531840)
    host.process(60, ["/usr/bin/ollama", "serve"], "/usr/bin/ollama", uid=1000, netns=4026532999,
                 tcp=[tcp_line("00000000", 11434, "6000")], fds=["socket:[6000]"],
                 cgroup="0::/system.slice/docker-0123456789abcdef0123456789abcdef.scope")
    host.process(61, ["/usr/bin/docker-proxy", "-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", "11434",
                      "-container-ip", "172.18.0.2", "-container-port", "11434"], "/usr/bin/docker-proxy", uid=0)
    # --network host: the host's namespace, so its wildcard listener counts.
    host.process(62, ["/usr/local/bin/llama-server"], "/usr/local/bin/llama-server", netns=4026531840,
                 tcp=[tcp_line("00000000", 8080, "6001")], fds=["socket:[6001]"],
                 cgroup="0::/system.slice/docker-fedcba9876543210fedcba9876543210.scope")
    servers, findings = local_ai.scan(str(host.root))
    own = {server["pid"]: server["own_netns"] for server in servers}
    assert own == {60: True, 62: False}
    assert [(item["kind"], item["pid"]) for item in findings] == [("nonloopback_listener", 62)]


def test_empty_and_unreadable_trees(tmp_path):
    assert local_ai.scan(str(tmp_path)) == ([], [])
    (tmp_path / "proc" / "99").mkdir(parents=True)  # a process that vanished
    assert local_ai.scan(str(tmp_path)) == ([], [])


def test_metrics_and_score(host):
    host.process(60, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama", uid=0,
                 tcp=[tcp_line("00000000", 11434, "1")], fds=["socket:[1]"])
    servers, findings = local_ai.scan(str(host.root))
    assert local_ai.posture_score(findings) == 60
    text = local_ai.render_metrics(servers, findings)
    assert 'llmsec_local_ai_findings{kind="nonloopback_listener",severity="high"} 1' in text
    assert 'llmsec_local_ai_findings{kind="wildcard_origins",severity="high"} 0' in text
    assert 'llmsec_local_ai_servers{kind="ollama"} 1' in text
    assert "llmsec_local_ai_posture_score 60" in text


def test_lock_digests_reads_any_format():
    text = '{"models": {"tiny:1b": {"manifest": "sha256:%s", "layers": [{"digest": "sha256-%s"}]}}}' % (
        "1" * 64, "2" * 64)
    assert local_ai.lock_digests(text) == {"1" * 64, "2" * 64}


def test_unreadable_fd_is_reported_not_hidden(host, monkeypatch):
    host.process(70, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama")
    real_listdir = os.listdir

    def listdir(path):
        if str(path).endswith("/fd"):
            raise PermissionError(13, "Permission denied")
        return real_listdir(path)
    monkeypatch.setattr(local_ai.os, "listdir", listdir)
    servers, findings = local_ai.scan(str(host.root))
    assert servers[0]["complete"] is False
    assert [(item["kind"], item["severity"]) for item in findings] == [("scan_incomplete", "info")]
    assert local_ai.posture_score(findings) == 100


# --- findings that match a real host (issue 20) ----------------------------------------------------------

SANDBOXED = "NoNewPrivs:\t1\nSeccomp:\t2\nCapEff:\t0000000000000000\nPPid:\t1\n"
UNSANDBOXED = "NoNewPrivs:\t0\nSeccomp:\t0\nCapEff:\t0000000000000000\nPPid:\t1\n"
ROOT_ALL_CAPS = "NoNewPrivs:\t0\nSeccomp:\t0\nCapEff:\t000001ffffffffff\nPPid:\t1\n"
STORE = "/usr/share/ollama/.ollama/models"
MOUNTS_RW = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"


def mount_line(point, options, super_options="rw", source="/dev/sda1"):
    return "30 22 8:1 /x %s %s shared:5 - ext4 %s %s\n" % (point.replace(" ", "\\040"), options, source,
                                                           super_options)


def loaded(host, status=SANDBOXED, mounts=MOUNTS_RW, uid=998, blob_mode=0o644, dir_mode=0o755):
    """A runner (ollama runner or llama-server) with a blob of the store mapped, as while a model is loaded."""
    blob = host.model(STORE + "/blobs/" + BLOB, mode=blob_mode, dir_mode=dir_mode)
    os.chown(host.root / blob.lstrip("/"), uid, uid)
    os.chown(host.root / os.path.dirname(blob).lstrip("/"), uid, uid)
    host.process(70, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama", uid=uid, status=status,
                 mounts=mounts)
    host.process(71, ["/usr/local/bin/ollama", "runner", "--model", blob, "--port", "40001"],
                 "/usr/local/bin/ollama", uid=uid, maps=[blob], status=status.replace("PPid:\t1", "PPid:\t70"),
                 mounts=mounts)
    return blob


def test_writable_model_fires_for_the_store_ollama_owns(host):
    """The real case: Ollama's own store, writable by Ollama, so a compromised server rewrites weights."""
    blob = loaded(host)
    _servers, findings = local_ai.scan(str(host.root))
    writable = [item for item in findings if item["kind"] == "writable_model"]
    assert [(item["pid"], item["path"]) for item in writable] == [(71, blob)]
    assert "which it can write" in writable[0]["message"], writable


@pytest.mark.parametrize("mounts", [
    MOUNTS_RW + mount_line(STORE, "ro,nosuid,nodev,noexec,relatime"),               # encrypted_model_volume
    MOUNTS_RW + mount_line("/usr/share/ollama", "ro,relatime", "rw"),                # ReadOnlyPaths= bind mount
    MOUNTS_RW + mount_line("/usr/share", "rw", "ro"),                                # a read-only filesystem
], ids=["ro-mount", "readonlypaths-bind", "ro-superblock"])
def test_writable_model_respects_read_only_mounts(host, mounts):
    loaded(host, mounts=mounts)
    assert "writable_model" not in kinds(local_ai.scan(str(host.root))[1])


def test_a_deeper_rw_mount_under_a_ro_one_is_writable(host):
    mounts = MOUNTS_RW + mount_line("/usr/share/ollama", "ro") + mount_line(STORE + "/blobs", "rw")
    loaded(host, mounts=mounts)
    assert "writable_model" in kinds(local_ai.scan(str(host.root))[1])


def test_mount_points_with_spaces_are_unescaped():
    assert local_ai.mountinfo(mount_line("/srv/my models", "ro")) == [("/srv/my models", True)]
    assert local_ai.mounted_read_only([("/srv/my models", True)], "/srv/my models/a.gguf")
    assert not local_ai.mounted_read_only([("/srv/my models", True)], "/srv/my modelsX/a.gguf")


def test_root_with_dac_override_writes_any_file_root_without_it_does_not(host):
    blob = loaded(host, status=ROOT_ALL_CAPS, uid=0, blob_mode=0o444, dir_mode=0o555)
    assert "writable_model" in kinds(local_ai.scan(str(host.root))[1])
    # container_hardening's shape: root in the container, no capabilities, files owned by someone else
    os.chown(host.root / blob.lstrip("/"), 998, 998)
    os.chown(host.root / os.path.dirname(blob).lstrip("/"), 998, 998)
    for pid in ("70", "71"):
        status = host.root / "proc" / pid / "status"
        status.write_text(status.read_text().replace("000001ffffffffff", "0000000000000000"))
    assert "writable_model" not in kinds(local_ai.scan(str(host.root))[1])


@pytest.mark.parametrize("environment,expected", [
    ({"OLLAMA_DEBUG": "1"}, ["OLLAMA_DEBUG=1"]),
    ({"OLLAMA_DEBUG": "true"}, ["OLLAMA_DEBUG=true"]),
    ({"OLLAMA_DEBUG": "2"}, ["OLLAMA_DEBUG=2"]),
    ({"OLLAMA_DEBUG": "'1'"}, ["OLLAMA_DEBUG=1"]),      # envconfig.Var strips quotes
    ({"OLLAMA_DEBUG": "0"}, []),
    ({"OLLAMA_DEBUG": "false"}, []),
    ({"OLLAMA_DEBUG": "-1"}, []),                       # WARN: quieter than the default
    ({"OLLAMA_DEBUG": "yes"}, []),                      # neither bool nor int: INFO
    ({"OLLAMA_DEBUG_LOG_REQUESTS": "1"}, ["OLLAMA_DEBUG_LOG_REQUESTS=1"]),
    ({"OLLAMA_DEBUG_LOG_REQUESTS": "yes"}, ["OLLAMA_DEBUG_LOG_REQUESTS=yes"]),  # Bool: unparsable is true
    ({"OLLAMA_DEBUG_LOG_REQUESTS": "false"}, []),
    ({"OLLAMA_DEBUG_LOG_REQUESTS": ""}, []),
])
def test_debug_settings_read_as_ollama_reads_them(environment, expected):
    assert local_ai.debug_settings(environment) == expected


def test_debug_logging_finding(host):
    host.process(72, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama", status=SANDBOXED,
                 env={"OLLAMA_DEBUG": "1", "OLLAMA_DEBUG_LOG_REQUESTS": "true"})
    finding = next(item for item in local_ai.scan(str(host.root))[1] if item["kind"] == "debug_logging")
    assert finding["settings"] == ["OLLAMA_DEBUG=1", "OLLAMA_DEBUG_LOG_REQUESTS=true"]
    assert finding["severity"] == "medium" and "ollama_bind" in finding["fix"]


def go_binary(version):
    """What Ollama's release build leaves in its binary: the link flags in Go's buildinfo."""
    return (b"\x7fELF" + b"\0" * 3000 + b"\tbuild\t-ldflags=\"-w -s \\\"-X=github.com/ollama/ollama/version.Version="
            + version.encode() + b"\\\" \\\"-X=github.com/ollama/ollama/server.mode=release\\\"\"\n" + b"\0" * 100)


def test_vulnerable_version_from_the_binary(host):
    host.process(73, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama", status=SANDBOXED,
                 exe_bytes=go_binary("0.17.0"))
    servers, findings = local_ai.scan(str(host.root))
    assert servers[0]["version"] == "0.17.0"
    vulnerable = [item for item in findings if item["kind"] == "vulnerable_version"]
    assert [item["advisory"] for item in vulnerable] == ["CVE-2026-7482", "CVE-2026-102697"]
    assert all(item["severity"] == "high" and "upgrade Ollama to" in item["fix"] for item in vulnerable)


def test_current_version_and_unknown_versions_raise_nothing(host):
    host.process(74, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama", status=SANDBOXED,
                 exe_bytes=go_binary("0.35.1"))
    host.process(75, ["/opt/ollama", "serve"], "/opt/ollama", status=SANDBOXED, exe_bytes=go_binary("0.0.0"))
    host.process(76, ["/opt/b/ollama", "serve"], "/opt/b/ollama", status=SANDBOXED, exe_bytes=b"\x7fELF stripped")
    servers, findings = local_ai.scan(str(host.root))
    assert [server["version"] for server in servers] == ["0.35.1", "0.0.0", None]
    assert "vulnerable_version" not in kinds(findings)


def test_version_of_a_script_server_and_across_read_blocks(host, monkeypatch):
    script = host.root / "usr" / "local" / "bin" / "ollama"
    script.parent.mkdir(parents=True, exist_ok=True)
    # the marker straddles the 1 MiB read boundary
    script.write_bytes(b"#" * ((1 << 20) - 20) + b" -X=github.com/ollama/ollama/version.Version=0.1.33\n")
    host.process(77, ["/usr/bin/python3", "/usr/local/bin/ollama", "serve"], "/usr/bin/python3", status=SANDBOXED)
    servers, findings = local_ai.scan(str(host.root), hash_executables=False)
    assert servers[0]["version"] == "0.1.33" and "script_sha256" not in servers[0]
    assert {item["advisory"] for item in findings if item["kind"] == "vulnerable_version"} >= {
        "CVE-2024-37032", "CVE-2024-39720", "CVE-2026-7482"}


@pytest.mark.parametrize("version,ids", [
    ("0.1.28", {"CVE-2024-28224", "CVE-2024-37032", "CVE-2024-39721", "CVE-2024-39720", "CVE-2024-39722",
                "CVE-2024-45436", "CVE-2025-51471", "CVE-2026-7482"}),
    ("0.14.3", {"CVE-2026-7482", "CVE-2026-102697"}),
    ("0.17.1-rc0", {"CVE-2026-7482", "CVE-2026-102697"}),      # a pre-release of the fix is not the fix
    ("v0.31.2", set()),
    ("0.34.2", {"CVE-2026-103663"}),                           # introduced in 0.34.2
    ("0.35.0", set()),
    ("0.0.0", set()), ("dev", set()), (None, set()),
])
def test_advisory_ranges(version, ids):
    from ansible_collections.llmsec.hardening.plugins.module_utils import ollama_advisories
    assert {item["id"] for item in ollama_advisories.affecting(version)} == ids


def test_advisory_table_is_well_formed():
    from ansible_collections.llmsec.hardening.plugins.module_utils import ollama_advisories
    assert re.match(r"^\d{4}-\d{2}-\d{2}$", ollama_advisories.LAST_CHECKED)
    for item in ollama_advisories.ADVISORIES:
        assert re.match(r"^CVE-\d{4}-\d+$", item["id"]) and item["source"].startswith("https://")
        assert ollama_advisories.parse_version(item["fixed"]) is not None
        assert item["introduced"] is None or ollama_advisories.parse_version(item["introduced"]) < \
            ollama_advisories.parse_version(item["fixed"])


def test_unsandboxed_native_service(host):
    host.process(78, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama", status=UNSANDBOXED,
                 cgroup="0::/system.slice/ollama.service")
    host.process(79, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama", status=SANDBOXED,
                 cgroup="0::/system.slice/ollama2.service")
    # in a container: container_hardening's concern, not this finding's
    host.process(80, ["/bin/ollama", "serve"], "/bin/ollama", status=UNSANDBOXED,
                 cgroup="0::/system.slice/docker-0123456789abcdef0123456789abcdef.scope")
    # a runner inherits its server's sandbox: one finding per service
    host.process(81, ["/usr/local/bin/ollama", "runner"], "/usr/local/bin/ollama",
                 status=UNSANDBOXED.replace("PPid:\t1", "PPid:\t78"), cgroup="0::/system.slice/ollama.service")
    findings = [item for item in local_ai.scan(str(host.root))[1] if item["kind"] == "unsandboxed_service"]
    assert [(item["pid"], item["missing"]) for item in findings] == [
        (78, ["NoNewPrivileges", "a syscall filter"])]
    assert "service_sandbox" in findings[0]["fix"]


def test_capabilities_left_are_unsandboxed(host):
    host.process(82, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama", uid=0, status=ROOT_ALL_CAPS)
    finding = next(item for item in local_ai.scan(str(host.root))[1] if item["kind"] == "unsandboxed_service")
    assert finding["missing"] == ["NoNewPrivileges", "a syscall filter", "an empty capability set"]


def test_llama_server_started_by_ollama_is_its_runner(host):
    """Ollama 0.30 and later: `ollama serve` starts llama.cpp's llama-server with --model <blob>."""
    blob = host.model(STORE + "/blobs/" + BLOB)
    host.process(83, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama", status=SANDBOXED,
                 exe_bytes=go_binary("0.32.15"))
    host.process(84, ["/usr/local/lib/ollama/llama-server", "--model", blob, "--port", "40002"],
                 "/usr/local/lib/ollama/llama-server", maps=[blob], status=SANDBOXED.replace("PPid:\t1", "PPid:\t83"))
    host.process(85, ["/usr/local/bin/llama-server", "--model", "/srv/m.gguf"], "/usr/local/bin/llama-server",
                 status=SANDBOXED)
    servers, _findings = local_ai.scan(str(host.root))
    assert [(s["pid"], s["kind"], s["role"], s["version"]) for s in servers] == [
        (83, "ollama", "server", "0.32.15"), (84, "ollama", "runner", "0.32.15"), (85, "llama.cpp", "server", None)]


def test_metrics_name_every_kind_with_its_one_severity():
    text = local_ai.render_metrics([], [])
    for kind, severity in local_ai.KINDS_SEVERITY.items():
        assert 'llmsec_local_ai_findings{kind="%s",severity="%s"} 0' % (kind, severity) in text


def test_a_host_that_is_a_container_sees_its_own_services_as_native(host):
    scope = "0::/system.slice/docker-0123456789abcdef0123456789abcdef.scope"
    host.process(1, ["/lib/systemd/systemd"], "/lib/systemd/systemd", uid=0, cgroup=scope + "/init.scope")
    host.process(86, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama", status=UNSANDBOXED,
                 cgroup=scope + "/system.slice/ollama.service")
    host.process(87, ["/bin/ollama", "serve"], "/bin/ollama", status=UNSANDBOXED,
                 cgroup=scope + "/system.slice/docker-fedcba9876543210fedcba9876543210.scope")
    servers, findings = local_ai.scan(str(host.root))
    assert [(server["pid"], server["container"]) for server in servers] == [(86, None), (87, "fedcba987654")]
    assert [item["pid"] for item in findings if item["kind"] == "unsandboxed_service"] == [86]


def test_the_store_is_checked_with_no_model_loaded(host):
    """Loaded or not, a store the server can write is weights it can swap: found without waiting for a load."""
    host.model(STORE + "/blobs/" + BLOB)
    os.chown(host.root / STORE.lstrip("/"), 998, 998)
    host.process(88, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama", status=SANDBOXED,
                 env={"HOME": "/usr/share/ollama"}, mounts=MOUNTS_RW)
    servers, findings = local_ai.scan(str(host.root))
    assert servers[0]["model_store"] == STORE and "HOME" not in servers[0]["environment"]
    assert [(item["pid"], item["path"]) for item in findings if item["kind"] == "writable_model"] == [(88, STORE)]
    (host.root / "proc" / "88" / "mountinfo").write_text(MOUNTS_RW + mount_line(STORE, "ro"))
    assert "writable_model" not in kinds(local_ai.scan(str(host.root))[1])


def test_ollama_models_overrides_home():
    from ansible_collections.llmsec.hardening.plugins.module_utils import ollama_env
    assert ollama_env.models_dir({"OLLAMA_MODELS": "/models"}, "/root") == "/models"
    assert ollama_env.models_dir({}, "/usr/share/ollama") == "/usr/share/ollama/.ollama/models"
    assert ollama_env.models_dir({}, "") is None


def test_local_access_open_when_nobody_connects(host, monkeypatch):
    tried = []
    monkeypatch.setattr(local_ai, "local_user_can_connect",
                        lambda address, port: tried.append((address, port)) or address != "::1")
    host.process(20, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama",
                 tcp6=[tcp_line("00000000000000000000000000000000", 11434, "32")],
                 fds=["socket:[32]"], status="NoNewPrivs:\t1\nSeccomp:\t2\nCapEff:\t0\n")
    # a runner and a server in its own network namespace (a container's) are not tried; Docker's loopback publish is
    host.process(21, ["/usr/local/bin/ollama", "runner", "--port", "40000"], "/usr/local/bin/ollama",
                 tcp=[tcp_line("0100007F", 40000, "33")], fds=["socket:[33]"])
    host.process(22, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama",
                 tcp=[tcp_line("00000000", 11434, "34")], fds=["socket:[34]"], netns="4026532999")
    host.process(30, ["/usr/bin/docker-proxy", "-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", "11435",
                      "-container-ip", "172.17.0.2", "-container-port", "11434"], "/usr/bin/docker-proxy", uid=0)
    os.makedirs(host.root / "proc" / "1" / "ns")
    os.symlink("net:[4026531992]", host.root / "proc" / "1" / "ns" / "net")
    servers, findings = local_ai.scan(str(host.root))
    # a dual-stack [::] listener: both loopbacks tried (::1 may not even exist), one finding per server
    assert tried == [("127.0.0.1", 11434), ("::1", 11434), ("127.0.0.1", 11435)]
    opened = sorted((item for item in findings if item["kind"] == "local_access_open"), key=lambda item: item["address"])
    assert [(item["pid"], item["addresses"]) for item in opened] == [(20, ["127.0.0.1:11434"]),
                                                                     (None, ["127.0.0.1:11435"])]
    assert opened[0]["severity"] == "medium" and "llmsec.hardening.firewall" in opened[0]["fix"] and \
        "firewall_local_access_control" in opened[0]["fix"]


@pytest.mark.parametrize("answer", [False, None])
def test_local_access_closed_or_not_asked_is_no_finding(host, monkeypatch, answer):
    """False: the firewall reset nobody's connection; None: not root, nothing could be tried."""
    monkeypatch.setattr(local_ai, "local_user_can_connect", lambda address, port: answer)
    host.process(20, ["/usr/local/bin/ollama", "serve"], "/usr/local/bin/ollama",
                 tcp=[tcp_line("00000000", 11434, "31")], fds=["socket:[31]"])
    kinds_found = kinds(local_ai.scan(str(host.root))[1])
    assert "local_access_open" not in kinds_found and "nonloopback_listener" in kinds_found


def test_the_probe_tries_nothing_when_not_root(monkeypatch):
    monkeypatch.undo()
    monkeypatch.setattr(local_ai.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(local_ai.os, "fork", lambda: pytest.fail("forked without root"))
    assert local_ai.local_user_can_connect("127.0.0.1", 11434) is None


def test_the_probe_child_reports_through_its_exit_code(monkeypatch):
    """A real fork. Run as a normal user, the child cannot become nobody: no answer rather than a wrong one. As
    root it does, and nothing listens on port 1: refused. (The live scenarios show True.)"""
    real_root = os.geteuid() == 0
    monkeypatch.undo()
    monkeypatch.setattr(local_ai.os, "geteuid", lambda: 0)
    assert local_ai.local_user_can_connect("127.0.0.1", 1) is (False if real_root else None)


def test_a_change_window_left_open_is_a_finding(tmp_path, monkeypatch):
    """Open now, or past its deadline (a change whose host was lost): both are reported, with who opened it."""
    from ansible_collections.llmsec.hardening.plugins.module_utils import change_window

    monkeypatch.setattr(change_window, "OWNER_UID", os.geteuid())
    window = tmp_path / "var" / "lib" / "llmsec" / "change-window.json"
    window.parent.mkdir(parents=True)
    window.write_text(change_window.render("CHG-7", "alice", 30, now=1000))
    _servers, findings = local_ai.scan(str(tmp_path))
    assert [(finding["kind"], finding["severity"]) for finding in findings] == [("change_window_left_open", "medium")]
    assert findings[0]["expired"] and "'CHG-7' opened by alice, expired at 2800" in findings[0]["message"]
    open_now = local_ai.change_window_findings(str(tmp_path), now=1001)
    assert [(item["kind"], item["severity"], item["expired"]) for item in open_now] == [
        ("change_window_open", "info", False)]
    window.chmod(0o666)  # a file that opens nothing is left open too
    assert local_ai.change_window_findings(str(tmp_path), now=1001)[0]["kind"] == "change_window_left_open"
    window.chmod(0o644)
    assert local_ai.window_state(str(tmp_path), now=1001)["open"]
    window.unlink()
    assert local_ai.scan(str(tmp_path))[1] == []
