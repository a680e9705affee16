"""Run as root (python3 aa_probe.py), confined or not: try what a compromised model server tries, print
{attempt: "OK" | errno name} as JSON. Each attempt is undone when it succeeds (the control run)."""

import ctypes
import errno
import json
import os
import socket
import subprocess
import time

libc = ctypes.CDLL(None, use_errno=True)
result = {}


def attempt(name, action):
    try:
        action()
        result[name] = "OK"
    except OSError as exc:
        result[name] = errno.errorcode.get(exc.errno, str(exc.errno))


def write(path):
    with open(path, "w") as handle:
        handle.write("planted\n")
    os.unlink(path)


def proc_sys():
    with open("/proc/sys/kernel/hostname") as handle:
        name = handle.read()
    with open("/proc/sys/kernel/hostname", "w") as handle:
        handle.write(name)


def mount():
    os.makedirs("/run/aa-probe-mnt", exist_ok=True)
    if libc.mount(b"none", b"/run/aa-probe-mnt", b"tmpfs", 0, None) != 0:
        raise OSError(ctypes.get_errno(), "mount")
    libc.umount(b"/run/aa-probe-mnt")


def raw_socket():
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()


def shell():
    subprocess.run(["/bin/sh", "-c", "true"], check=True)


def ptrace():
    child = os.fork()
    if child == 0:
        time.sleep(5)
        os._exit(0)
    try:
        if libc.ptrace(16, child, None, None) != 0:  # PTRACE_ATTACH
            raise OSError(ctypes.get_errno(), "ptrace")
        libc.ptrace(17, child, None, None)  # PTRACE_DETACH
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)


def chown():
    path = "/tmp/aa-probe-chown"
    open(path, "w").close()
    try:
        os.chown(path, 65534, 65534)
    finally:
        os.unlink(path)


attempt("write_state", lambda: write("/tmp/aa-probe"))
# A state path that belongs to the server's user: root needs CAP_DAC_OVERRIDE to write there.
attempt("dac_override", lambda: write("/home/ollama/aa-probe"))
attempt("read_models", lambda: os.listdir(os.environ["PROBE_MODELS"]))
attempt("write_models", lambda: write(os.path.join(os.environ["PROBE_MODELS"], "aa-probe")))
attempt("write_outside_state", lambda: write("/var/tmp/aa-probe"))
attempt("write_proc_sys", proc_sys)
attempt("mount", mount)
attempt("raw_socket", raw_socket)
attempt("exec_shell", shell)
attempt("ptrace", ptrace)
attempt("chown", chown)
print(json.dumps(result))
