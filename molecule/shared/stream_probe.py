"""Runs on the client container: POST a streaming request and time each line as it arrives.

Prints JSON: {"status": ..., "times": [seconds since the request, one per non-empty line]}.
"""

import argparse
import base64
import http.client
import json
import ssl
import time
from urllib.parse import urlsplit


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--cafile", required=True)
    parser.add_argument("--user")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--bearer")
    parser.add_argument("--body", required=True)
    args = parser.parse_args()

    context = ssl.create_default_context(cafile=args.cafile)
    if args.cert:
        context.load_cert_chain(args.cert, args.key)
    url = urlsplit(args.url)
    conn = http.client.HTTPSConnection(url.hostname, url.port or 443, context=context, timeout=60)
    headers = {"Content-Type": "application/json"}
    if args.user:
        headers["Authorization"] = "Basic " + base64.b64encode(args.user.encode()).decode()
    if args.bearer:
        headers["Authorization"] = "Bearer " + args.bearer
    start = time.monotonic()
    conn.request("POST", url.path, body=args.body, headers=headers)
    resp = conn.getresponse()
    times = []
    while True:
        line = resp.readline()
        if not line:
            break
        if line.strip():
            times.append(round(time.monotonic() - start, 3))
    print(json.dumps({"status": resp.status, "times": times}))


main()
