"""A webhook receiver for Alertmanager, as a SOC's would be: HTTPS, a bearer token, every POST appended to a
file as one JSON line {"time", "authorized", "body"} (an unauthorized one gets 401 and is recorded too).

usage: webhook_receiver.py PORT CERT KEY TOKEN_FILE LOG
"""
import json
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        authorized = self.headers.get("Authorization") == "Bearer " + self.server.token
        try:
            payload = json.loads(body)
        except ValueError:
            payload = body.decode("utf-8", "replace")
        with open(self.server.log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"time": time.time(), "authorized": authorized, "path": self.path,
                                     "body": payload}) + "\n")
        self.send_response(200 if authorized else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args):
        pass


def main(port, cert, key, token_file, log):
    server = ThreadingHTTPServer(("0.0.0.0", int(port)), Hook)
    with open(token_file, encoding="utf-8") as handle:
        server.token = handle.read().strip()
    server.log = log
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:])
