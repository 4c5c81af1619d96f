#!/usr/bin/env python3
"""Load on the engine's metadata service over loopback: throughput, tail latency, long-poll watchers.

1. throughput: CONNS keep-alive connections GET /openstack/latest/meta_data.json for SECONDS;
   requests/s and p50/p99 latency (client-side, per request).
2. watchers: WATCHERS concurrent long-polls (If-None-Match + ?wait=60) on one instance;
   the server's RSS before and while they are held; then one PUT of the storage config and
   the time from that PUT until each watcher has its 200 (max and p99).
Targets (issue 7): >= 2,000 req/s with p99 < 20 ms on this 2-core machine; 1,000 watchers
with < 200 MB memory growth, each woken within 100 ms of a change.
Peer: the same requests against a stdlib ThreadingHTTPServer serving the same bytes (what
simple metadata servers, and this project's first test fixture, use): printed beside.
The load generator runs in its own process (aiohttp client) and shares the 2 cores.
Usage: python3 bench/engine_load.py [SECONDS] [WATCHERS]
"""
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.engine.conftest import Server  # noqa: E402

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 10
WATCHERS = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
CONNS = 16
PATH = "/openstack/latest/meta_data.json"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


async def hammer(url: str, seconds: float, conns: int) -> tuple[int, list[float]]:
    import aiohttp

    lat: list[float] = []
    stop = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conns)) as s:
        async def worker():
            while time.monotonic() < stop:
                t = time.perf_counter()
                async with s.get(url) as r:
                    await r.read()
                    assert r.status == 200, r.status
                lat.append(time.perf_counter() - t)
        await asyncio.gather(*(worker() for _ in range(conns)))
    return len(lat), lat


def throughput(url: str) -> dict:
    """Run the client in a child process so client and server each get their own interpreter."""
    code = ("import asyncio,json,sys; sys.path.insert(0, %r); from bench.engine_load import hammer; "
            "n, lat = asyncio.run(hammer(%r, %r, %d)); print(json.dumps([n, lat]))" % (str(REPO), url, SECONDS, CONNS))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    n, lat = json.loads(out)
    return {"rps": n / SECONDS, "p50_ms": statistics.median(lat) * 1000, "p99_ms": pct(lat, 0.99) * 1000}


async def watchers(url: str, n: int, put) -> dict:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=120)) as s:
        async with s.get(url) as r:
            tag = r.headers["ETag"]
        done: list[float] = []

        async def one():
            async with s.get(url + "?wait=60", headers={"If-None-Match": tag}) as r:
                await r.read()
                assert r.status == 200, r.status
                done.append(time.monotonic())

        tasks = [asyncio.ensure_future(one()) for _ in range(n)]
        await asyncio.sleep(3)  # every request is in and held
        held = put.held()
        t0 = time.monotonic()
        t_put = await asyncio.get_running_loop().run_in_executor(None, put)
        await asyncio.gather(*tasks)
        wake = [d - t0 for d in done]
        return {"held_rss_kb": held, "max_ms": max(wake) * 1000, "p99_ms": pct(wake, 0.99) * 1000, "n": len(wake),
                "put_ms": t_put * 1000}


def stdlib_peer(body: bytes) -> tuple[str, ThreadingHTTPServer]:
    class H(BaseHTTPRequestHandler):  # HTTP/1.0, its default: one connection per request
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_port}", srv


def main() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    with tempfile.TemporaryDirectory() as tmp:
        srv = Server(str(Path(tmp) / "engine.db"))
        try:
            doc = {"id": "bench-1", "hostname": "bench1", "source_addresses": ["127.0.0.1"]}
            assert srv.req("POST", "/v1/instances", doc).status == 201
            body = srv.req("GET", PATH, token=None).data
            ours = throughput(srv.url + PATH)
            base_rss = rss_kb(srv.proc.pid)
            version = [0]

            def put():
                version[0] += 1
                cfg = {"version": 1, "config": [{"id": f"d{version[0]}", "type": "disk", "serial": f"s{version[0]}"}]}
                t = time.monotonic()
                assert srv.req("PUT", "/v1/instances/bench-1/storage", cfg).status == 200
                return time.monotonic() - t
            put.held = lambda: rss_kb(srv.proc.pid)
            w = asyncio.run(watchers(srv.url + PATH, WATCHERS, put))
        finally:
            srv.close()
    peer_url, peer = stdlib_peer(body)
    theirs = throughput(peer_url + PATH)
    peer.shutdown()
    print(f"meta_data.json, {CONNS} keep-alive connections, {SECONDS:g} s, loopback, 2 cores shared with the client")
    print(f"  blockprov-engine:          {ours['rps']:7.0f} req/s  p50 {ours['p50_ms']:5.2f} ms  p99 {ours['p99_ms']:5.2f} ms"
          "   (target >= 2000 req/s, p99 < 20 ms)")
    print(f"  stdlib ThreadingHTTPServer: {theirs['rps']:6.0f} req/s  p50 {theirs['p50_ms']:5.2f} ms  p99 {theirs['p99_ms']:5.2f} ms"
          "   (peer: static bytes, no instance lookup)")
    grow = (w["held_rss_kb"] - base_rss) / 1024
    print(f"{w['n']} long-poll watchers: server RSS {base_rss / 1024:.0f} MB -> {w['held_rss_kb'] / 1024:.0f} MB "
          f"(+{grow:.0f} MB; target < 200 MB); woken after a PUT: p99 {w['p99_ms']:.0f} ms, max {w['max_ms']:.0f} ms "
          f"(target 100 ms), measured from the start of the PUT (the PUT alone took {w['put_ms']:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
