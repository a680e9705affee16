"""Streaming load for the gateway benchmark: an upstream that streams, and a client that times each chunk.

    stream_peers.py upstream PORT CHUNKS INTERVAL
        An NDJSON generate endpoint as fast as asyncio goes: every answer streams CHUNKS lines,
        INTERVAL seconds apart, each carrying the CLOCK_MONOTONIC time it was written, then a
        done line with Ollama's counts.
    stream_peers.py client URL STREAMS BEARER
        Opens STREAMS connections at once (spread over the first second), POSTs a streaming
        generate on each and prints JSON: per chunk the delay between the upstream writing it and
        the client reading it, in ms, and the streams that failed.

Both sides are raw asyncio (uvloop when present), so that neither caps the paths being compared:
nginx alone and nginx + gateway see the same upstream and the same client.
"""

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


async def upstream(port, chunks, interval):
    async def serve(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
                for _index in range(chunks):
                    line = b'{"model":"tiny:1b","response":"w","done":false,"t":%d}\n' % time.monotonic_ns()
                    writer.write(b"%x\r\n%s\r\n" % (len(line), line))
                    await writer.drain()
                    await asyncio.sleep(interval)
                line = b'{"model":"tiny:1b","response":"","done":true,"prompt_eval_count":5,"eval_count":%d}\n' % chunks
                writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(line), line))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


async def client(url, streams, bearer):
    parts = urlsplit(url)
    body = json.dumps({"model": "tiny:1b", "prompt": "Why is the sky blue?"}).encode()
    request = (b"POST %s HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
               % (parts.path.encode(), bearer.encode(), len(body), body))
    delays, failed = [], []

    async def one(index):
        await asyncio.sleep(index / streams)  # spread the starts over one second
        try:
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            writer.write(request)
            status = (await reader.readline()).split()[1]
            if status != b"200":
                failed.append(status.decode())
                return
            await reader.readuntil(b"\r\n\r\n")
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    break
                data = await reader.readexactly(size + 2)
                now = time.monotonic_ns()
                for line in data[:-2].splitlines():
                    if b'"t":' in line:
                        delays.append((now - json.loads(line)["t"]) / 1e6)
            writer.close()
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            failed.append(type(exc).__name__)

    await asyncio.gather(*(one(index) for index in range(streams)))
    print(json.dumps({"delays_ms": delays, "failed": failed}))


def main(argv):
    if uvloop:
        uvloop.install()
    if argv[1] == "upstream":
        asyncio.run(upstream(int(argv[2]), int(argv[3]), float(argv[4])))
    else:
        asyncio.run(client(argv[2], int(argv[3]), argv[4]))


if __name__ == "__main__":
    main(sys.argv)
