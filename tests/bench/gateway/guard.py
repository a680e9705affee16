"""Benchmark: what the auth gateway's guard model (issue #23) costs, and what its stream window lets through.

    .venv/bin/python tests/bench/gateway/guard.py [--requests 500] [--windows 1,4,16,32,64] [--tokens 256]
                                                  [--unsafe-at 100] [--rate 100] [--slow-guard-ms 50] [--repeats 2]

The upstream is not the bottleneck: a fake Ollama (aiohttp and uvloop in its own process, `guard.py upstream
PORT`) that answers a non-streamed /api/generate at once with run.py's fixed reply, streams NDJSON as fast as it
goes or at --rate tokens/s, and answers /api/chat as Llama Guard 3 does ("safe", or "unsafe\\nS1" when the answer
it screens holds the marker UNSAFE-MARKER), at once or after --slow-guard-ms, as the prompt asks (`guard_ms=50`:
the gateway hands the guard the prompt with every answer it screens). The gateways run as the role runs them
(run.py's start_gateway: `llmsec_gateway.py serve CONFIG` in its own process, Unix socket, EdDSA JWT, limits,
audit HMACs), one per configuration, differing only in the "guard" key; each screening is a guard_model call in
the gateway's guard threads, a new HTTP connection to the upstream's /api/chat each, as on a host. The client
talks to the gateway's socket directly: nginx is the same with or without a guard.

1. Prompt screening: --requests sequential non-streamed /api/generate on 1 kept-alive connection, in 5 rounds
   that alternate the gateways: guard off, screen [prompt], screen [prompt, response]; with the instant guard and
   (a fifth of the requests) the slow one. p50/p99, the added ms against guard off, guard calls per request and
   their mean duration by the gateway's own histogram (llmsec_gateway_guard_duration_seconds).
2. Stream screening (screen [response], one gateway per --windows): a --tokens answer, --repeats times: total
   time, added ms per token against guard off, guard calls (the gateway's verdict counter), the delay from the
   upstream writing a token to the client reading it; then an answer that turns unsafe at --unsafe-at: whether
   the unsafe event reached the client and how many text events followed it before the gateway's error line
   (up to window - 1 events reach the client before the guard has read them). Three runs: the instant guard and
   the slow one with the upstream as fast as it goes (the cost per token), the slow guard at --rate tokens/s
   (how much of it the generation hides).

Everything (client, fake Ollama, gateways) shares this machine's cores; run it on an idle machine.
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# pylint: disable-next=wrong-import-position
from run import FIXED_ANSWER, credentials, mint, percentile, start_gateway, stop, wait_http  # noqa: E402

UPSTREAM_PORT = 21500
METRICS_PORT = 21501  # the first gateway's; the next ones count up
MARKER = "UNSAFE-MARKER"
GUARD = {"model": "llama-guard3:1b", "protocol": "llama_guard", "block_categories": ["S1"], "fail_mode": "closed"}
VERDICTS = re.compile(r'^llmsec_gateway_guard_verdicts_total\{[^}]*direction="(\w+)"[^}]*\} (\S+)$', re.M)
DURATIONS = re.compile(r'^llmsec_gateway_guard_duration_seconds_sum\{direction="(\w+)"\} (\S+)$', re.M)


def use_uvloop():
    try:
        import uvloop  # pylint: disable=import-outside-toplevel
    except ImportError:  # pragma: no cover
        return
    uvloop.install()


def spec(prompt, name, default=0):
    found = re.search(r"\b%s=(\d+)" % name, prompt)
    return int(found.group(1)) if found else default


def upstream(port):
    """The fake Ollama: /api/generate (the worker) and /api/chat (the guard), both steered by the prompt."""
    from aiohttp import web  # pylint: disable=import-outside-toplevel

    async def generate(request):
        body = await request.json()
        if body.get("stream") is False:
            return web.Response(body=FIXED_ANSWER.encode(), content_type="application/json")
        prompt = body.get("prompt", "")
        tokens, rate, unsafe_at = spec(prompt, "tokens", 256), spec(prompt, "rate"), spec(prompt, "unsafe_at")
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            for index in range(1, tokens + 1):
                word = " " + MARKER if index == unsafe_at else " w%d" % index
                await response.write(b'{"model":"tiny:1b","response":"%s","done":false,"t":%d}\n'
                                     % (word.encode(), time.monotonic_ns()))
                if rate:
                    await asyncio.sleep(max(0.0, started + index / rate - loop.time()))
            await response.write(b'{"model":"tiny:1b","response":"","done":true,"done_reason":"stop",'
                                 b'"prompt_eval_count":5,"eval_count":%d}\n' % tokens)
            await response.write_eof()
        except ConnectionError:
            pass  # the gateway cut the stream
        return response

    async def chat(request):
        body = await request.json()
        turns = {}
        for message in body["messages"]:
            turns[message["role"]] = turns.get(message["role"], "") + message["content"]
        delay = spec(turns.get("user", ""), "guard_ms")
        if delay:
            await asyncio.sleep(delay / 1000.0)
        verdict = "unsafe\nS1" if MARKER in turns.get("assistant", "") else "safe"
        return web.json_response({"model": body["model"], "message": {"role": "assistant", "content": verdict},
                                  "done": True})

    async def version(_request):
        return web.json_response({"version": "0.0.0-bench"})

    app = web.Application()
    app.router.add_post("/api/generate", generate)
    app.router.add_post("/api/chat", chat)
    app.router.add_get("/api/version", version)
    use_uvloop()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


class Gateway:
    """One gateway process: its socket, its metrics port and what its guard counters said last."""

    def __init__(self, procs, tmp, name, metrics_port, public, guard):
        extra = {"guard": dict(GUARD, **guard)} if guard else {}
        start_gateway(procs, tmp, name, UPSTREAM_PORT, metrics_port, public, **extra)
        self.socket = "%s/gw-%s.sock" % (tmp, name)
        self.metrics = "http://127.0.0.1:%d/metrics" % metrics_port

    def guard_counters(self):
        """{direction: (calls, seconds)} from the gateway's own metrics."""
        with urllib.request.urlopen(self.metrics, timeout=10) as response:
            text = response.read().decode()
        counters = {}
        for direction, value in VERDICTS.findall(text):
            counters[direction] = counters.get(direction, 0.0) + float(value)
        seconds = {direction: float(value) for direction, value in DURATIONS.findall(text)}
        return {direction: (calls, seconds.get(direction, 0.0)) for direction, calls in counters.items()}


class Counted:
    """The gateway's guard calls and their time while the block runs: calls, ms per call."""

    def __init__(self, gateway):
        self.gateway = gateway
        self.before = {}
        self.calls = 0
        self.ms_per_call = float("nan")

    def __enter__(self):
        self.before = self.gateway.guard_counters()
        return self

    def __exit__(self, *exc):
        after = self.gateway.guard_counters()
        calls = sum(value[0] - self.before.get(key, (0, 0))[0] for key, value in after.items())
        seconds = sum(value[1] - self.before.get(key, (0, 0))[1] for key, value in after.items())
        self.calls = int(round(calls))
        self.ms_per_call = 1000.0 * seconds / calls if calls else float("nan")


async def session_for(gateway):
    import aiohttp  # pylint: disable=import-outside-toplevel
    return aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=gateway.socket, limit=1))


async def requests_timed(gateway, bearer, count, prompt):
    """count sequential non-streamed generations on one connection: their times in ms."""
    body = {"model": "tiny:1b", "prompt": prompt, "stream": False}
    times = []
    async with await session_for(gateway) as session:
        for _index in range(count):
            started = time.perf_counter()
            async with session.post("http://gateway/api/generate", json=body,
                                    headers={"Authorization": "Bearer " + bearer}) as response:
                data = await response.read()
            times.append((time.perf_counter() - started) * 1000.0)
            if response.status != 200:
                raise SystemExit("bench: HTTP %d from the gateway: %s" % (response.status, data[:200]))
    return times


async def stream_once(gateway, bearer, prompt):
    """One streamed generation: total ms, per-token delays in ms, whether the unsafe token arrived, the text
    events after it, the error line that ended the stream (or None)."""
    result = {"delays": [], "unsafe_sent": False, "after": 0, "error": None, "events": 0}
    async with await session_for(gateway) as session:
        started = time.perf_counter()
        async with session.post("http://gateway/api/generate", json={"model": "tiny:1b", "prompt": prompt},
                                headers={"Authorization": "Bearer " + bearer}) as response:
            if response.status != 200:
                raise SystemExit("bench: HTTP %d from the gateway: %s" % (response.status, await response.read()))
            async for line in response.content:
                now = time.monotonic_ns()
                event = json.loads(line)
                if "error" in event:
                    result["error"] = event["error"]
                elif event.get("response"):
                    result["delays"].append((now - event["t"]) / 1e6)
                    result["events"] += 1
                    result["after"] += result["unsafe_sent"]
                    result["unsafe_sent"] = result["unsafe_sent"] or MARKER in event["response"]
        result["total_ms"] = (time.perf_counter() - started) * 1000.0
    return result


def prompt_for(**steer):
    return "Tell me a long story. bench " + " ".join("%s=%d" % item for item in sorted(steer.items()))


def requests_section(gateways, bearer, args):
    off, prompt_only, both = gateways["off"], gateways["prompt"], gateways["prompt+response"]
    slow = max(20, args.requests // 5)
    rows = [("guard off", off, 0, args.requests), ("prompt, instant guard", prompt_only, 0, args.requests),
            ("prompt+response, instant guard", both, 0, args.requests),
            ("prompt, %d ms guard" % args.slow_guard_ms, prompt_only, args.slow_guard_ms, slow),
            ("prompt+response, %d ms guard" % args.slow_guard_ms, both, args.slow_guard_ms, slow)]
    times = {row[0]: [] for row in rows}
    calls = {row[0]: [0, 0.0] for row in rows}
    for gateway in (off, prompt_only, both):  # warm up: connections, the guard's threads
        asyncio.run(requests_timed(gateway, bearer, 20, prompt_for(guard_ms=0)))
    rounds = 5
    for _round in range(rounds):
        for label, gateway, guard_ms, count in rows:
            with Counted(gateway) as counted:
                times[label] += asyncio.run(requests_timed(gateway, bearer, count // rounds,
                                                           prompt_for(guard_ms=guard_ms)))
            calls[label][0] += counted.calls
            calls[label][1] += counted.calls * (counted.ms_per_call if counted.calls else 0.0)
    print("1. prompt screening: %d cores shared by client, fake Ollama and gateways; sequential non-streamed "
          "/api/generate, 1 connection" % os.cpu_count())
    columns = ("gateway", "requests", "p50 ms", "p99 ms", "adds p50", "adds p99", "calls/req", "ms per call")
    print("%-32s %8s %9s %9s %11s %11s %10s %12s" % columns)
    base = times["guard off"]
    for label, _gateway, _guard_ms, _count in rows:
        values = times[label]
        print("%-32s %8d %9.2f %9.2f %11.2f %11.2f %10.2f %12.2f" % (
            label, len(values), percentile(values, 0.5), percentile(values, 0.99),
            percentile(values, 0.5) - percentile(base, 0.5), percentile(values, 0.99) - percentile(base, 0.99),
            calls[label][0] / len(values), calls[label][1] / calls[label][0] if calls[label][0] else 0.0))
    print("ms per call: the gateway's guard histogram (slot, thread, HTTP to the guard, verdict), per screening")


def streams_run(gateways, bearer, args, guard_ms, rate):
    """The rows of one stream table: guard off, then one gateway per window."""
    tokens = args.tokens
    rows = []
    for window in [None] + args.windows:
        gateway = gateways["off"] if window is None else gateways["window %d" % window]
        safe = prompt_for(tokens=tokens, rate=rate, guard_ms=guard_ms)
        with Counted(gateway) as counted:
            runs = [asyncio.run(stream_once(gateway, bearer, safe)) for _repeat in range(args.repeats)]
        row = {"window": window, "calls": counted.calls / args.repeats, "ms_per_call": counted.ms_per_call,
               "total_ms": statistics.median(run["total_ms"] for run in runs),
               "delays": [delay for run in runs for delay in run["delays"]]}
        if any(run["events"] != tokens or run["error"] for run in runs):
            raise SystemExit("bench: a safe stream was cut or short: %r" % [(r["events"], r["error"]) for r in runs])
        if window is not None:
            row["cut"] = asyncio.run(stream_once(gateway, bearer, prompt_for(
                tokens=tokens, rate=rate, guard_ms=guard_ms, unsafe_at=args.unsafe_at)))
        rows.append(row)
    return rows


def streams_table(title, rows, tokens):
    print("\n" + title)
    print("%-7s %8s %10s %12s %10s %10s %12s %12s %13s" % (
        "window", "calls", "total ms", "adds ms/tok", "delay p50", "delay p99", "ms per call", "unsafe sent",
        "events after"))
    base = rows[0]["total_ms"]
    for row in rows:
        cut = row.get("cut")
        print("%-7s %8.0f %10.1f %12.3f %10.2f %10.2f %12.2f %12s %13s" % (
            "off" if row["window"] is None else row["window"], row["calls"], row["total_ms"],
            (row["total_ms"] - base) / tokens, percentile(row["delays"], 0.5), percentile(row["delays"], 0.99),
            row["ms_per_call"] if row["calls"] else 0.0,
            "-" if cut is None else ("yes" if cut["unsafe_sent"] else "no"),
            "-" if cut is None else "%d%s" % (cut["after"], "" if cut["error"] else " (not cut!)")))


def streams_section(gateways, bearer, args):
    print("\n2. stream screening: screen [response], a %d-token NDJSON answer (%d runs, median total), then one "
          "that turns unsafe at token %d; delay: upstream write to client read, all tokens"
          % (args.tokens, args.repeats, args.unsafe_at))
    for title, guard_ms, rate in (
            ("instant guard, upstream as fast as it goes", 0, 0),
            ("%d ms guard, upstream as fast as it goes" % args.slow_guard_ms, args.slow_guard_ms, 0),
            ("%d ms guard, upstream at %d tokens/s" % (args.slow_guard_ms, args.rate), args.slow_guard_ms,
             args.rate)):
        streams_table(title, streams_run(gateways, bearer, args, guard_ms, rate), args.tokens)
    print("unsafe sent, events after: what of an answer whose token %d is unsafe reached the client before the "
          "gateway's error line;\nthe cut comes at the event that completes the window holding it: window - 1 "
          "events at most go out unread" % args.unsafe_at)


def main(argv=None):
    argv = sys.argv if argv is None else argv
    if len(argv) == 3 and argv[1] == "upstream":
        upstream(int(argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--windows", default="1,4,16,32,64")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--unsafe-at", type=int, default=100)
    parser.add_argument("--rate", type=int, default=100, help="tokens/s of the paced stream run")
    parser.add_argument("--slow-guard-ms", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sections", default="1,2")
    args = parser.parse_args(argv[1:])
    args.windows = [int(window) for window in args.windows.split(",")]
    use_uvloop()
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="llmsec-bench-guard-")
    procs = []
    try:
        procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__), "upstream", str(UPSTREAM_PORT)]))
        wait_http("http://127.0.0.1:%d/api/version" % UPSTREAM_PORT)
        key, public = credentials(tmp)
        configs = [("off", None), ("prompt", {"screen": ["prompt"]}),
                   ("prompt+response", {"screen": ["prompt", "response"]})]
        configs += [("window %d" % window, {"screen": ["response"], "stream_window": window})
                    for window in args.windows]
        gateways = {}
        for index, (label, guard) in enumerate(configs):
            gateways[label] = Gateway(procs, tmp, "guard%d" % index, METRICS_PORT + index, public, guard)
        bearer = mint(key, "EdDSA", "bench")
        print("%d cores, shared by everything here: the client, the fake Ollama and %d gateway processes (one "
              "per configuration, idle but the one measured)\n" % (os.cpu_count(), len(gateways)))
        if "1" in args.sections.split(","):
            requests_section(gateways, bearer, args)
        if "2" in args.sections.split(","):
            streams_section(gateways, bearer, args)
        print("\n(%.0f s in all)" % (time.monotonic() - started))
    finally:
        stop(procs, tmp)


if __name__ == "__main__":
    main()
