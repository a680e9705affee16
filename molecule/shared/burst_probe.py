"""Runs on the client container: send several requests at once and say when each one ended.

usage: burst_probe.py https://host --cafile CA --requests JSON [--sequential]
--sequential sends them one after another on one connection (as fast as the server answers, under nginx's
per-address connection limit) instead of all at once.
JSON is a list of {"path", "bearer", "body", "method" (POST, or GET without a body), "start" (seconds after the
first)}. Prints JSON: one {"status", "end" (seconds since the first start), "headers" (lower-case names), "body"}
per request, in order.
"""

import argparse
import http.client
import json
import ssl
import threading
import time
from urllib.parse import urlsplit


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--cafile", required=True)
    parser.add_argument("--requests", required=True)
    parser.add_argument("--sequential", action="store_true")
    args = parser.parse_args()
    context = ssl.create_default_context(cafile=args.cafile)
    url = urlsplit(args.url)
    requests = json.loads(args.requests)
    results = [None] * len(requests)
    origin = time.monotonic()

    shared = http.client.HTTPSConnection(url.hostname, url.port or 443, context=context, timeout=120)

    def send(index, spec):
        time.sleep(spec.get("start", 0))
        conn = shared if args.sequential else http.client.HTTPSConnection(
            url.hostname, url.port or 443, context=context, timeout=120)
        headers = {"Authorization": "Bearer " + spec["bearer"]}
        if "body" in spec:
            headers["Content-Type"] = "application/json"
        conn.request(spec.get("method", "POST"), spec["path"],
                     body=json.dumps(spec["body"]) if "body" in spec else None, headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
        results[index] = {"status": resp.status, "end": round(time.monotonic() - origin, 3),
                          "headers": {name.lower(): value for name, value in resp.getheaders()}, "body": body[-300:]}

    if args.sequential:
        for index, spec in enumerate(requests):
            send(index, spec)
    else:
        threads = [threading.Thread(target=send, args=(index, spec)) for index, spec in enumerate(requests)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    print(json.dumps(results))


main()
