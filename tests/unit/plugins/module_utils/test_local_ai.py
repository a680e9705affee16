"""local_ai: discovery and findings on a fake /proc tree."""

import os

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
                netns=None):
        base = self.root / "proc" / str(pid)
        (base / "fd").mkdir(parents=True)
        (base / "net").mkdir()
        if netns:
            (base / "ns").mkdir()
            os.symlink("net:[%s]" % netns, base / "ns" / "net")
        (base / "cmdline").write_bytes(b"\0".join(part.encode() for part in cmdline) + b"\0")
        exe_path = self.root / exe.lstrip("/")
        exe_path.parent.mkdir(parents=True, exist_ok=True)
        if not exe_path.exists():
            exe_path.write_bytes(b"\x7fELF" + exe.encode())
        os.symlink(exe_path, base / "exe")
        (base / "status").write_text("Name:\tx\nUid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\nGroups:\t\n" % ((uid,) * 8))
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
