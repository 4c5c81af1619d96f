#!/usr/bin/env python3
"""A management push to a running instance, two ways, on one machine: the event channel beside the long-poll.

Channel: `POST /v1/instances/ID/channel` config/set/set_passwords -> the instance's `blockprov channel serve`
(WebSocket to the engine) merges it and re-runs set_passwords -> its finish event is back at the engine.
Long-poll: `PUT /v1/instances/ID` with a new root password in the user-data -> `blockprov watch` (long-polling
the metadata) re-reads, re-runs set_passwords -> its metadata-change report is back at the engine.
Both on the same temp root, engine (`blockprov-engine serve`, SQLite) and agent as separate processes, timed
from the engine client's request to the event's arrival (GET /events?wait). Median and p99 of RUNS each.
Usage: python3 bench/channel.py [RUNS]
"""
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.boot.helpers import account_files, bp, isolated_cfg  # noqa: E402
from tests.engine.conftest import Server  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
IID = "bench-chan"


def cc(pw: str) -> str:
    return "#cloud-config\n" + json.dumps({"chpasswd": {"users": [{"name": "root", "password": pw, "type": "text"}],
                                                        "expire": False}})


def wait_event(srv: Server, since: int, match) -> int:
    """Hold GET /events until an event matching ``match`` arrives; its seq."""
    while True:
        page = json.loads(srv.req("GET", f"/events?instance={IID}&since={since}&wait=30").data)
        for e in page["events"]:
            if match(e["event"]):
                return e["seq"]
        since = page["next"]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-channel-"))
    srv = Server(str(tmp / "engine.db"))
    doc = {"id": IID, "hostname": "bench", "source_addresses": ["127.0.0.1"], "custom_user_data": cc("start")}
    assert srv.req("POST", "/v1/instances", doc).status == 201
    root = tmp / "root"
    account_files(root)
    isolated_cfg(root, "datasource_list: [OpenStack, None]\n"
                       f"datasource: {{OpenStack: {{metadata_urls: ['{srv.url}'], retries: 1}}}}\n"
                       f"reporting: {{engine: {{type: webhook, endpoint: '{srv.url}/events'}}, "
                       f"mgmt: {{type: event-channel, endpoint: 'ws://127.0.0.1:{srv.port}/v1/channel', "
                       f"secret: '{srv.signature(IID)}'}}}}\n"
                       "init_local_modules: []\ninit_modules: []\nconfig_modules: [set_passwords]\n"
                       "final_modules: []\nwatch: {wait: 30, interval: 0.05}\n", full=True)
    bp(root, "boot", check=True)
    procs = [subprocess.Popen([sys.executable, "-m", "blockprov", *argv, "--root", str(root)], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for argv in (["channel", "serve"], ["watch"])]
    try:
        while not json.loads(srv.req("GET", f"/v1/instances/{IID}").data)["status"]["channel"]["connected"]:
            time.sleep(0.05)
        time.sleep(1.0)  # the watcher's first poll is its baseline
        since = json.loads(srv.req("GET", f"/events?instance={IID}&limit=1").data)["next"]
        chan, poll = [], []
        for i in range(RUNS):
            since = json.loads(srv.req("GET", f"/events?instance={IID}&since={since}&limit=5000").data)["next"]
            t = time.perf_counter()
            r = srv.req("POST", f"/v1/instances/{IID}/channel", {"channel": "config/set/set_passwords",
                                                                 "data": json.loads(cc(f"c-{i}")[14:])})
            assert r.status == 202, r.data
            since = wait_event(srv, since, lambda e: e.get("channel", "").endswith("modules-config/set_passwords")
                               and e["event_type"] == "finish")
            chan.append(time.perf_counter() - t)
            t = time.perf_counter()
            assert srv.req("PUT", f"/v1/instances/{IID}", {**doc, "custom_user_data": cc(f"p-{i}")}).status == 200
            since = wait_event(srv, since, lambda e: e["name"] == f"/blockprov/{IID}/metadata-change")
            poll.append(time.perf_counter() - t)
        for name, xs in (("event channel (POST channel -> set_passwords finish event)", chan),
                         ("long-poll (PUT definition -> watch -> metadata-change report)", poll)):
            print(f"{name}: median {statistics.median(xs) * 1000:.0f} ms, p99 {pct(xs, 99) * 1000:.0f} ms, "
                  f"min {min(xs) * 1000:.0f} ms, max {max(xs) * 1000:.0f} ms over {len(xs)} runs")
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        srv.close()


if __name__ == "__main__":
    main()
