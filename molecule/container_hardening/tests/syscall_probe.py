"""Run inside the container (python3 - < this file): try the escape syscalls, print errno names as JSON."""

import ctypes
import errno
import json

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def call(number, *args):
    ctypes.set_errno(0)
    result = libc.syscall(number, *args)
    return "OK" if result >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))


params = ctypes.create_string_buffer(120)  # struct io_uring_params
print(json.dumps({
    # x86_64 syscall numbers
    "mount": call(165, b"none", b"/tmp", b"tmpfs", ctypes.c_ulong(0), None),
    "unshare": call(272, ctypes.c_ulong(0x10000000)),          # CLONE_NEWUSER: no capability needed
    "ptrace": call(101, ctypes.c_long(0), 0, 0, 0),            # PTRACE_TRACEME: no capability needed
    "bpf": call(321, 0, None, 0),
    "keyctl": call(250, 0, ctypes.c_long(-3), 0),              # KEYCTL_GET_KEYRING_ID, session keyring
    "io_uring_setup": call(425, 1, params),
    "setns": call(308, -1, 0),
}))
