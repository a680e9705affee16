"""Runs on the client container: send several requests at once and say when each one ended.

usage: burst_probe.py https://host --cafile CA --requests JSON
JSON is a list of {"path", "bearer", "body", "start" (seconds after the first)}.
Prints JSON: one {"status", "end" (seconds since the first start), "body"} per request, in order.
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
    args = parser.parse_args()
    context = ssl.create_default_context(cafile=args.cafile)
    url = urlsplit(args.url)
    requests = json.loads(args.requests)
    results = [None] * len(requests)
    origin = time.monotonic()

    def send(index, spec):
        time.sleep(spec.get("start", 0))
        conn = http.client.HTTPSConnection(url.hostname, url.port or 443, context=context, timeout=120)
        conn.request("POST", spec["path"], body=json.dumps(spec["body"]),
                     headers={"Content-Type": "application/json", "Authorization": "Bearer " + spec["bearer"]})
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
        results[index] = {"status": resp.status, "end": round(time.monotonic() - origin, 3), "body": body[-300:]}

    threads = [threading.Thread(target=send, args=(index, spec)) for index, spec in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(results))


main()
