"""What a compromised server process could do: each probe tries one thing and says if it worked.

Run as a service under the role's sandbox (it writes its results, then waits), and without it as the same
user (the control), so that each denial is the sandbox's doing. Test-only.
usage: sandbox_probe.py STATE_DIR RESULT_FILE [--wait]
"""

import ctypes
import errno
import json
import mmap
import os
import shutil
import socket
import sys
import time

STATE, RESULT = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER = 0x10000000
PTRACE_TRACEME = 0


def attempt(func):
    try:
        detail = func()
        return {"allowed": True, "detail": str(detail or "ok")}
    except OSError as exc:
        return {"allowed": False, "detail": "%s: %s" % (errno.errorcode.get(exc.errno, exc.errno), exc.strerror)}


def write_state():
    with open(os.path.join(STATE, "state-write"), "w", encoding="utf-8") as handle:
        handle.write("x")


def write_outside_state():
    # A directory this user owns outside its state: only ProtectSystem=strict stops the write.
    with open("/srv/probe-owned/x", "w", encoding="utf-8") as handle:
        handle.write("x")


def read_other_home():
    with open("/home/alice/notes.txt", encoding="utf-8") as handle:
        return handle.read().strip()


def exec_from_state():
    target = os.path.join(STATE, "dropped-binary")
    shutil.copy("/bin/true", target)
    os.chmod(target, 0o755)

    def run():
        try:
            os.execv(target, [target])
        except OSError as exc:
            return exc.errno
        return 0
    in_child(run)


def in_child(func):
    """Run func (which returns 0 or an errno) in a child that exits at once; raise its errno here."""
    pid = os.fork()
    if pid == 0:
        error = func()
        os._exit(100 + error if error else 0)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code >= 100:
        raise OSError(code - 100, os.strerror(code - 100))


def libc_call(func, *args):
    """0, or the errno of a failed libc call."""
    return 0 if func(*args) == 0 else ctypes.get_errno()


def unshare_user_namespace():
    in_child(lambda: libc_call(libc.unshare, CLONE_NEWUSER))


def ptrace_traceme():
    # In a child: the parent would become its tracer. ptrace is outside @system-service.
    in_child(lambda: libc_call(libc.ptrace, PTRACE_TRACEME, 0, None, None))


def write_exec_memory():
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC).close()


def vsock_socket():
    # The VM guest-host channel (AF_ALG is not in every kernel; AF_VSOCK is where Ollama runs in a VM).
    socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM, 0).close()


def setuid_file():
    target = os.path.join(STATE, "suid-file")
    with open(target, "w", encoding="utf-8") as handle:
        handle.write("")
    os.chmod(target, 0o4755)


def see_init():
    # Another user's process (PID 1): ProtectProc=invisible hides it.
    with open("/proc/1/cmdline", "rb") as handle:
        return handle.read().split(b"\0")[0].decode() or "empty"


PROBES = {
    "write_state": write_state,
    "write_outside_state": write_outside_state,
    "read_other_home": read_other_home,
    "exec_from_state": exec_from_state,
    "unshare_user_namespace": unshare_user_namespace,
    "ptrace_traceme": ptrace_traceme,
    "write_exec_memory": write_exec_memory,
    "vsock_socket": vsock_socket,
    "setuid_file": setuid_file,
    "see_init": see_init,
}

results = {name: attempt(func) for name, func in PROBES.items()}
with open("/proc/self/status", encoding="utf-8") as status:
    results["status"] = dict(line.split(":\t", 1) for line in status.read().splitlines() if ":\t" in line)
tmp = RESULT + ".tmp"
with open(tmp, "w", encoding="utf-8") as handle:
    json.dump(results, handle, indent=1, sort_keys=True)
os.replace(tmp, RESULT)
if "--wait" in sys.argv:
    while True:
        time.sleep(3600)
