"""Run in a container beside Ollama's (python3 - OLLAMA_IP GATEWAY_IP SERVER_NAME TOKEN < this file, the host's
CA at /ca.crt): try Ollama's port directly, then the host's front door (nginx on 443, TLS checked against the
collection's CA) without and with a token. Prints JSON."""

import http.client
import json
import socket
import ssl
import sys

ollama_ip, gateway, server_name, bearer = sys.argv[1:5]
result = {}
try:
    socket.create_connection((ollama_ip, 11434), timeout=3).close()
    result["ollama_direct"] = "open"
except OSError as exc:
    result["ollama_direct"] = type(exc).__name__

context = ssl.create_default_context(cafile="/ca.crt")


def front_door(headers):
    sock = socket.create_connection((gateway, 443), timeout=10)
    conn = http.client.HTTPSConnection(server_name, 443, context=context, timeout=10)
    conn.sock = context.wrap_socket(sock, server_hostname=server_name)
    conn.request("GET", "/api/tags", headers=headers)
    response = conn.getresponse()
    body = response.read()
    return response.status, body


result["no_token"] = front_door({})[0]
status, body = front_door({"Authorization": "Bearer " + bearer})
result["token"] = status
result["models"] = [m["name"] for m in json.loads(body).get("models", [])] if status == 200 else []
print(json.dumps(result))
