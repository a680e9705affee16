"""Runs on the client container: what does the server accept?

  tls_probe.py HOST PORT protocol TLSv1_1   -> {"ok": bool, "error": "..."}
  tls_probe.py HOST PORT ciphers            -> {"accepted": [TLS 1.2 cipher names the server took]}

The client itself allows everything (SECLEVEL=0, TLS 1.0 up), so that a refusal
comes from the server, not from the client's own policy.
"""

import json
import socket
import ssl
import sys


def context(version, ciphers="ALL:COMPLEMENTOFALL:@SECLEVEL=0"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = version
    ctx.maximum_version = version
    ctx.set_ciphers(ciphers)
    return ctx


def handshake(host, port, ctx):
    try:
        with socket.create_connection((host, port), timeout=10) as sock:
            with ctx.wrap_socket(sock, server_hostname=host) as tls:
                return True, tls.version() + " " + tls.cipher()[0]
    except (ssl.SSLError, OSError) as exc:
        return False, str(exc)


def main():
    host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "protocol":
        ok, detail = handshake(host, port, context(getattr(ssl.TLSVersion, sys.argv[4])))
        print(json.dumps({"ok": ok, "error": "" if ok else detail, "detail": detail}))
        return
    offered = [c["name"] for c in context(ssl.TLSVersion.TLSv1_2).get_ciphers() if c["protocol"] != "TLSv1.3"]
    accepted = [name for name in offered
                if handshake(host, port, context(ssl.TLSVersion.TLSv1_2, name + ":@SECLEVEL=0"))[0]]
    print(json.dumps({"offered": len(offered), "accepted": accepted}))


main()
