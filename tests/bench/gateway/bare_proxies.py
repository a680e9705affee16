"""Why aiohttp: a bare streaming pass-through proxy, written twice, measured in one run.

    python3 tests/bench/gateway/bare_proxies.py [--seconds 8]   (make bench runs it in .build/bench-venv)

  aiohttp          aiohttp.web server + aiohttp.ClientSession (what the gateway uses), uvloop
  uvicorn+httpx    uvicorn (httptools, uvloop) serving a raw ASGI app + httpx.AsyncClient
Both stream the body through chunk by chunk, keep upstream connections alive and
do nothing else, so the difference is the server and client stack alone.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run import PORTS, STANDIN, wait_http, wrk  # noqa: E402  pylint: disable=wrong-import-position

UPSTREAM = "http://127.0.0.1:%d" % PORTS["standin"]
DROP = {"host", "connection", "transfer-encoding", "content-length", "keep-alive"}


def serve_aiohttp(port):
    import aiohttp  # pylint: disable=import-outside-toplevel
    import uvloop  # pylint: disable=import-outside-toplevel
    from aiohttp import web  # pylint: disable=import-outside-toplevel

    async def handle(request):
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROP}
        async with app["session"].request(request.method, UPSTREAM + request.path_qs, data=body,
                                          headers=headers) as upstream:
            response = web.StreamResponse(status=upstream.status)
            response.content_type = upstream.content_type
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    async def start(app_):
        app_["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    app.on_startup.append(start)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def serve_uvicorn(port):
    import httpx  # pylint: disable=import-outside-toplevel
    import uvicorn  # pylint: disable=import-outside-toplevel

    client = httpx.AsyncClient(base_url=UPSTREAM, timeout=None, limits=httpx.Limits(max_connections=None))

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k, v) for k, v in scope["headers"] if k.decode().lower() not in DROP]
        request = client.build_request(scope["method"], scope["path"], content=body, headers=headers)
        upstream = await client.send(request, stream=True)
        try:
            await send({"type": "http.response.start", "status": upstream.status_code,
                        "headers": [(k, v) for k, v in upstream.headers.raw if k.decode().lower() not in DROP]})
            async for chunk in upstream.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await upstream.aclose()

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, loop="uvloop",
                http="httptools")


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "serve":
        {"aiohttp": serve_aiohttp, "uvicorn": serve_uvicorn}[sys.argv[2]](int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    tmp = "/tmp/llmsec-bench-bare"
    env = dict(os.environ, OLLAMA_HOST="127.0.0.1:%d" % PORTS["standin"], OLLAMA_MODELS=tmp + "/models", HOME=tmp,
               OLLAMA_STANDIN_CHUNK_DELAY="0", OLLAMA_STANDIN_PULL_SIZE="1024")
    procs = [subprocess.Popen([sys.executable, STANDIN, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        wait_http(UPSTREAM + "/api/version")
        subprocess.run([sys.executable, STANDIN, "pull", "tiny:1b"], env=env, check=True, stdout=subprocess.DEVNULL)
        paths = [("direct", PORTS["standin"]), ("aiohttp", PORTS["gateway"]), ("uvicorn+httpx", PORTS["express"])]
        for kind, port in (("aiohttp", PORTS["gateway"]), ("uvicorn", PORTS["express"])):
            # wrk hangs up mid-response when a run ends; the proxies' complaints about that are not figures.
            procs.append(subprocess.Popen([sys.executable, __file__, "serve", kind, str(port)],
                                          stderr=subprocess.DEVNULL))
            wait_http("http://127.0.0.1:%d/api/version" % port)
        print("bare proxies: %d cores, %d s per run, non-streaming /api/generate" % (os.cpu_count(), args.seconds))
        print("%-16s %12s %12s %14s" % ("path", "p50 ms (c1)", "p99 ms (c1)", "req/s (c%d)" % args.connections))
        for name, port in paths:
            url = "http://127.0.0.1:%d" % port
            wrk(url, 2, args.connections, "unused")
            one, many = wrk(url, args.seconds, 1, "unused"), wrk(url, args.seconds, args.connections, "unused")
            print("%-16s %12.2f %12.2f %14.0f" % (name, one["p50_ms"], one["p99_ms"], many["rps"]))
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
        asyncio.run(asyncio.sleep(0))


if __name__ == "__main__":
    main()
