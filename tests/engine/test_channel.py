"""The event channel end to end (docs/event-channel.md): a real `blockprov-engine serve`, an agent booted from it
on a temp root, and `blockprov channel serve` connected over a WebSocket on 127.0.0.1, a Unix socket or TCP.
What counts is what the instance's files show (/etc/shadow) and what the engine's event store holds."""
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

from tests.boot.helpers import account_files, bp, isolated_cfg, until
from tests.conftest import ROOT, need_root_tools
from tests.engine.conftest import Server
from tests.engine.test_agent import root_hash_is

IID = "chan-1"


def events(srv: Server, iid: str = IID) -> list[dict]:
    return [e["event"] for e in json.loads(srv.req("GET", f"/events?instance={iid}&limit=5000").data)["events"]]


def status(srv: Server, iid: str = IID) -> dict:
    return json.loads(srv.req("GET", f"/v1/instances/{iid}").data)["status"]


def post(srv: Server, channel: str, data: dict, mid: str | None = None, iid: str = IID):
    """POST /v1/instances/{id}/channel, its answer checked against the engine's OpenAPI document."""
    from tests.engine.test_api import OpenAPI

    body = {"channel": channel, "data": data} | ({"id": mid} if mid else {})
    r = srv.req("POST", f"/v1/instances/{iid}/channel", body)
    OpenAPI(srv).check("/v1/instances/{id}/channel", "POST", r)
    return r.status, json.loads(r.data)


def chpasswd(pw: str) -> dict:
    return {"chpasswd": {"users": [{"name": "root", "password": pw, "type": "text"}], "expire": False}}


class Agent:
    """A booted temp root whose `blockprov channel serve` runs against ``endpoint``."""

    def __init__(self, tmp_path, srv: Server, endpoint: str, extra: str = "", queue: int = 1000):
        self.root = tmp_path / "root"
        account_files(self.root)
        (self.root / "home").mkdir()
        secret = srv.signature(IID) if srv.secret else "not-the-right-secret-0123456789"
        isolated_cfg(self.root, "datasource_list: [OpenStack, None]\n"
                                f"datasource: {{OpenStack: {{metadata_urls: ['{srv.url}'], retries: 1}}}}\n"
                                f"reporting: {{mgmt: {{type: event-channel, endpoint: '{endpoint}', "
                                f"secret: '{secret}', queue: {queue}}}}}\n"
                                "init_local_modules: []\ninit_modules: [users_groups]\n"
                                "config_modules: [set_passwords]\nfinal_modules: []\n" + extra, full=True)
        bp(self.root, "boot", check=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "blockprov", "channel", "serve", "--root", str(self.root)],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self) -> str:
        self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return out


@pytest.fixture
def engine(tmp_path):
    sock = tmp_path / "engine-channel.sock"
    port = __import__("tests.engine.conftest", fromlist=["free_port"]).free_port()
    srv = Server(str(tmp_path / "engine.db"), "--channel-listen", f"unix:{sock}",
                 "--channel-listen", f"tcp:127.0.0.1:{port}")
    srv.channel_endpoints = {"websocket": f"ws://127.0.0.1:{srv.port}/v1/channel", "unix": f"unix:{sock}",
                             "tcp": f"tcp://127.0.0.1:{port}"}
    doc = {"id": IID, "hostname": "chan1", "source_addresses": ["127.0.0.1"],
           "custom_user_data": "#cloud-config\n" + json.dumps(chpasswd("first-secret"))}
    assert srv.req("POST", "/v1/instances", doc).status == 201
    yield srv
    srv.close()


@pytest.mark.parametrize("transport", ["websocket", "unix", "tcp"])
def test_password_reset_pushed_over_the_channel(tmp_path, engine, transport):
    need_root_tools("chpasswd", "useradd", "openssl")
    agent = Agent(tmp_path, engine, engine.channel_endpoints[transport])
    try:
        assert root_hash_is(agent.root, "first-secret")
        until(lambda: status(engine)["channel"]["connected"], 20, "the instance to connect")
        assert status(engine)["channel"]["transport"] == transport
        sock = agent.root / "run/blockprov/channel/channel.sock"
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600 and stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
        code, out = post(engine, "config/set/set_passwords", chpasswd("via-channel"), "reset-1")
        assert code == 202 and out["delivered"] is True, out
        until(lambda: root_hash_is(agent.root, "via-channel"), 30, "the new root password in /etc/shadow")

        def module_events():
            return [e for e in events(engine) if e.get("channel") == f"/blockprov/{IID}/modules-config/set_passwords"]
        until(lambda: [e["event_type"] for e in module_events()] == ["start", "finish"], 20,
              "start and finish of set_passwords at the engine")
        assert module_events()[-1]["result"] == "SUCCESS"
        layer = agent.root / f"var/lib/blockprov/instances/{IID}/channel-config.json"
        assert stat.S_IMODE(layer.stat().st_mode) == 0o600 and "via-channel" not in layer.read_text()
        for p in (agent.root / "var").rglob("*"):
            if p.is_file():
                assert b"via-channel" not in p.read_bytes(), p

        # the same message delivered again (same id, even with other data) is not applied again
        code, out = post(engine, "config/set/set_passwords", chpasswd("replayed"), "reset-1")
        assert code == 202
        until(lambda: any(e["name"] == "channel/refused" and "already carried out" in e["data"]["reason"]
                          for e in events(engine)), 20, "the refusal of the repeated id")
        assert root_hash_is(agent.root, "via-channel") and len(module_events()) == 2

        # data failing the module's schema never leaves the engine
        code, out = post(engine, "config/set/set_passwords", {"chpasswd": {"users": "root:x"}})
        assert code == 400 and "set_passwords schema" in out["error"], out
        code, out = post(engine, "config/set/ssh", {"ssh_deletekeys": True})
        assert code == 400 and "not re-runnable" in out["error"], out

        # get: the effective config, secrets redacted
        code, out = post(engine, "config/get/set_passwords", {}, "get-1")
        assert code == 202
        until(lambda: any(e["name"] == "config/value/set_passwords" for e in events(engine)), 20, "the answer")
        value = next(e for e in events(engine) if e["name"] == "config/value/set_passwords")["data"]
        assert value["reply_to"] == "get-1"
        assert value["config"] == {"chpasswd": "REDACTED for non-root user"}, value  # the key holds passwords
    finally:
        out = agent.stop()
    assert "Traceback" not in out, out


def test_a_reboot_keeps_what_the_channel_set_and_messages_wait_for_a_disconnected_instance(tmp_path, engine):
    need_root_tools("chpasswd", "useradd", "openssl")
    code, out = post(engine, "config/set/set_passwords", chpasswd("queued-before-connect"), "early-1")
    assert code == 202 and out["delivered"] is False and out["queued"] == 1
    agent = Agent(tmp_path, engine, engine.channel_endpoints["websocket"])
    try:
        until(lambda: root_hash_is(agent.root, "queued-before-connect"), 30, "the queued message, carried out")
    finally:
        agent.stop()
    bp(agent.root, "boot", check=True)  # a later boot merges the channel's layer last: the password stays
    assert root_hash_is(agent.root, "queued-before-connect")


def test_a_wrong_secret_is_refused_by_the_engine(tmp_path):
    need_root_tools("chpasswd", "useradd", "openssl")
    srv = Server(str(tmp_path / "engine.db"))
    try:
        assert srv.req("POST", "/v1/instances", {"id": IID, "hostname": "chan1", "source_addresses": ["127.0.0.1"]}).status == 201
        secret, srv.secret = srv.secret, None  # the agent gets a made-up secret
        agent = Agent(tmp_path, srv, f"ws://127.0.0.1:{srv.port}/v1/channel")
        srv.secret = secret
        time.sleep(3)
        assert status(srv)["channel"]["connected"] is False
        out = agent.stop()
        assert "Traceback" not in out
    finally:
        srv.close()


class FakeEndpoint:
    """A line-protocol endpoint owned by the test: accepts the handshake, then sends what the test says and
    records what the instance publishes (to check the instance's own checks, past the engine's)."""

    def __init__(self, path):
        self.path = str(path)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.path)
        self.srv.listen(4)
        self.got: list[dict] = []
        self.conn = None
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        self.conn, _ = self.srv.accept()
        f = self.conn.makefile("rb")
        hello = json.loads(f.readline())
        self.handshake = hello[0]
        self.conn.sendall(b'[{"channel": "/meta/handshake", "data": {"successful": true}}]\n')
        for line in f:
            self.got.extend(json.loads(line))

    def send(self, raw: str):
        self.conn.sendall(raw.encode() + b"\n")

    def refusals(self) -> list[str]:
        return [m["data"]["reason"] for m in self.got if m["channel"].endswith("/channel/refused")]


def test_the_instance_refuses_what_fails_its_own_checks_and_applies_none_of_it(tmp_path):
    need_root_tools("chpasswd", "useradd", "openssl")
    srv = Server(str(tmp_path / "engine.db"))  # the datasource; the channel goes to the fake endpoint
    fake = FakeEndpoint(tmp_path / "fake.sock")
    try:
        assert srv.req("POST", "/v1/instances", {"id": IID, "hostname": "chan1", "source_addresses": ["127.0.0.1"],
                                                 "custom_user_data": "#cloud-config\n" + json.dumps(
                                                     chpasswd("kept-secret"))}).status == 201
        agent = Agent(tmp_path, srv, f"unix:{fake.path}", extra="")
        until(lambda: fake.conn is not None and getattr(fake, "handshake", None), 20, "the handshake")
        assert fake.handshake["clientId"] == IID and fake.handshake["data"]["secret"] == srv.signature(IID)
        base = f"/blockprov/{IID}/"
        bad = [
            "this is not json",
            json.dumps([{"channel": base + "config/set/set_passwords", "id": "a1",
                         "data": {"chpasswd": {"users": "root:oops"}}}]),                   # fails the schema
            json.dumps([{"channel": base + "config/set/ssh", "id": "a2", "data": {"ssh_deletekeys": True}}]),
            json.dumps([{"channel": base + "config/set/set_passwords", "data": chpasswd("no-id")}]),  # no id
            json.dumps([{"channel": base + "config/set/nosuchmodule", "id": "a3", "data": {"x": 1}}]),
            json.dumps([{"channel": "/blockprov/other-instance/config/set/set_passwords", "id": "a4",
                         "data": chpasswd("other")}]),
            json.dumps([{"channel": base + "config/set/set_passwords", "id": "a5",
                         "data": {"hostname": "not-its-key"}}]),
            json.dumps([{"channel": base + "config/set/set_passwords", "data": "not an object"}]),
        ]
        for raw in bad:
            fake.send(raw)
        until(lambda: len(fake.refusals()) >= len(bad), 20, "a refusal for each bad message")
        reasons = " | ".join(fake.refusals())
        for text in ("not JSON", "set_passwords schema", "not re-runnable", "without an id", "no module named",
                     "not a channel this instance acts on", "not read by set_passwords", "'data' must be an object"):
            assert text in reasons, (text, reasons)
        assert root_hash_is(agent.root, "kept-secret")
        # a good one still goes through after all that, and its repeat is refused
        good = json.dumps([{"channel": base + "config/set/set_passwords", "id": "ok-1", "data": chpasswd("good")}])
        fake.send(good)
        until(lambda: root_hash_is(agent.root, "good"), 20, "the good message applied")
        fake.send(good.replace('"good"', '"again"'))
        until(lambda: any("already carried out" in r for r in fake.refusals()), 20, "the repeat refused")
        assert root_hash_is(agent.root, "good")
        names = [m["channel"][len(base):] for m in fake.got]
        assert "modules-config/set_passwords" in names
    finally:
        out = agent.stop() if "agent" in locals() else ""
        srv.close()
    assert "Traceback" not in out, out


def test_events_published_while_disconnected_wait_and_go_out_on_reconnect(tmp_path):
    """The engine goes away; the instance keeps its events (at most ``queue: 2``, the oldest dropped and
    counted) and sends them when it is back; the engine records how many were lost."""
    need_root_tools("chpasswd", "useradd", "openssl")
    db = str(tmp_path / "engine.db")
    srv = Server(db)
    assert srv.req("POST", "/v1/instances", {"id": IID, "hostname": "chan1", "source_addresses": ["127.0.0.1"]}).status == 201
    agent = Agent(tmp_path, srv, f"ws://127.0.0.1:{srv.port}/v1/channel", queue=2)
    port = srv.port
    try:
        until(lambda: status(srv)["channel"]["connected"], 20, "the first connection")
        srv.close()
        # no acknowledgements yet: a frame written into a connection the engine has just closed, before the
        # instance read the close, is lost (docs/event-channel.md, Reliability); let it see the close first
        time.sleep(1.0)
        for i in range(3):
            r = subprocess.run([sys.executable, "-m", "blockprov", "channel", "publish", "--root", str(agent.root),
                                "hotplug/block", "--data", json.dumps({"action": "add", "device": f"/dev/vd{i}"})],
                               cwd=ROOT, capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
        srv = Server(db, port=port)
        until(lambda: len([e for e in events(srv) if e["name"] == "hotplug/block"]) == 2, 60,
              "the two events the queue kept, after the reconnect")
        assert [e["data"]["device"] for e in events(srv) if e["name"] == "hotplug/block"] == ["/dev/vd1", "/dev/vd2"]
        until(lambda: any(e["name"] == "channel/dropped" and e["data"]["dropped"] == 1 for e in events(srv)), 20,
              "the instance's count of the event it dropped")
    finally:
        agent.stop()
        srv.close()


def test_socket_activation_hands_the_listening_socket_to_the_service(tmp_path, engine):
    """As blockprov-channel.socket does: systemd-socket-activate listens, the first local publisher starts
    `blockprov channel serve` with the socket as fd 3 (LISTEN_FDS), and the event reaches the engine."""
    need_root_tools("chpasswd", "useradd", "openssl", "systemd-socket-activate")
    root = tmp_path / "root"
    account_files(root)
    (root / "home").mkdir()
    isolated_cfg(root, "datasource_list: [OpenStack, None]\n"
                       f"datasource: {{OpenStack: {{metadata_urls: ['{engine.url}'], retries: 1}}}}\n"
                       f"reporting: {{mgmt: {{type: event-channel, endpoint: '{engine.channel_endpoints['unix']}', "
                       f"secret: '{engine.signature(IID)}'}}}}\n"
                       "init_local_modules: []\ninit_modules: []\nconfig_modules: []\nfinal_modules: []\n", full=True)
    bp(root, "boot", check=True)
    sock = root / "run/blockprov/channel/channel.sock"
    sock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    act = subprocess.Popen(["systemd-socket-activate", "-l", str(sock), sys.executable, "-m", "blockprov", "channel",
                            "serve", "--root", str(root)], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        until(sock.exists, 10, "the activation socket")
        assert not status(engine)["channel"]["connected"]  # nothing runs until a publisher connects
        r = subprocess.run([sys.executable, "-m", "blockprov", "channel", "publish", "--root", str(root),
                            "hotplug/block", "--data", '{"action": "add", "device": "/dev/vdq"}'],
                           cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        until(lambda: any(e["name"] == "hotplug/block" for e in events(engine)), 30, "the event at the engine")
        assert status(engine)["channel"]["transport"] == "unix"
    finally:
        act.terminate()
        act.communicate(timeout=10)


def test_the_instance_gets_its_endpoint_and_secret_from_its_metadata(tmp_path):
    """`serve --channel-endpoint`: every instance's vendor-data carries the reporting entry with its own
    secret, so nothing on the instance is configured by hand; instance-data.json shows the secret redacted."""
    need_root_tools("chpasswd", "useradd", "openssl")
    from tests.engine.conftest import free_port

    port = free_port()
    srv = Server(str(tmp_path / "engine.db"), "--channel-endpoint", f"ws://127.0.0.1:{port}/v1/channel", port=port)
    root = tmp_path / "root"
    agent = None
    try:
        assert srv.req("POST", "/v1/instances", {"id": IID, "hostname": "chan1", "source_addresses": ["127.0.0.1"],
                                                 "vendor_data": {"timezone": "UTC"}}).status == 201
        account_files(root)
        (root / "home").mkdir()
        isolated_cfg(root, "datasource_list: [OpenStack, None]\n"
                           f"datasource: {{OpenStack: {{metadata_urls: ['{srv.url}'], retries: 1}}}}\n"
                           "init_local_modules: []\ninit_modules: []\nconfig_modules: [set_passwords]\n"
                           "final_modules: []\n", full=True)
        bp(root, "boot", check=True)
        public = (root / "run/blockprov/instance-data.json").read_text()
        assert srv.signature(IID) not in public and "/reporting/blockprov-channel/secret" in public
        agent = subprocess.Popen([sys.executable, "-m", "blockprov", "channel", "serve", "--root", str(root)],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        until(lambda: status(srv)["channel"]["connected"], 20, "the connection from metadata alone")
        code, _ = post(srv, "config/set/set_passwords", chpasswd("from-metadata-channel"), "m-1")
        assert code == 202
        until(lambda: root_hash_is(root, "from-metadata-channel"), 30, "the password")
    finally:
        if agent is not None:
            agent.terminate()
            agent.communicate(timeout=10)
        srv.close()


def test_build_seed_puts_the_channel_entry_into_the_seed(tmp_path):
    import hashlib
    import hmac

    secret = tmp_path / "secret"
    secret.write_text("seed-instance-secret-0123456789\n")
    (tmp_path / "def.json").write_text(json.dumps({"id": "seed-1", "hostname": "seed1"}))
    out = tmp_path / "seed"
    out.mkdir()
    r = subprocess.run([sys.executable, "-m", "blockprov_engine", "build-seed", "--definition",
                        str(tmp_path / "def.json"), "--format", "nocloud", "-o", str(out / "seed.iso"),
                        "--channel-endpoint", "vsock://2:7000", "--instance-secret-file", str(secret)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import yaml

    from blockprov.sources.media import read_files

    files = read_files(str(out / "seed.iso"))  # the ISO read through pycdlib, as the agent reads a seed

    vendor = yaml.safe_load(files["/vendor-data"])
    want = hmac.new(b"seed-instance-secret-0123456789", b"seed-1", hashlib.sha256).hexdigest()
    assert vendor["reporting"]["blockprov-channel"] == {"type": "event-channel", "endpoint": "vsock://2:7000",
                                                         "secret": want}
