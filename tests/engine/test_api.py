"""The engine over real HTTP on 127.0.0.1, once on SQLite and once on PostgreSQL: every route, auth, bad input.

Each JSON answer is checked against the OpenAPI document the server itself
serves, so the document cannot drift from what the routes return.
"""
import json
import subprocess
import sys
import time

import jsonschema
import pytest
import yaml

from tests.conftest import ROOT
from tests.boot.helpers import until
from tests.engine.conftest import TOKEN, Held, Server

DEF = yaml.safe_load((ROOT / "tests" / "fixtures" / "engine" / "web1.yaml").read_text())
IID = DEF["id"]


def minimal(iid="vm-1", **kw):
    return {"id": iid, "hostname": f"{iid}.example.com", **kw}


class OpenAPI:
    def __init__(self, server):
        self.doc = json.loads(server.req("GET", "/openapi.json", token=None).data)

    def check(self, template: str, method: str, resp) -> dict | None:
        op = self.doc["paths"][template][method.lower()]
        spec = op["responses"].get(str(resp.status))
        assert spec is not None, f"{method} {template}: status {resp.status} is not documented: {resp.data[:300]}"
        content = spec.get("content", {})
        if "application/json" in content and resp.headers.get("Content-Type", "").startswith("application/json"):
            body = json.loads(resp.data)
            schema = {**content["application/json"]["schema"], "components": self.doc["components"]}
            jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
            return body
        return None


@pytest.fixture
def api(server):
    return OpenAPI(server)


def create(server, api, doc):
    r = server.req("POST", "/v1/instances", doc)
    api.check("/v1/instances", "POST", r)
    assert r.status == 201, r.data
    return json.loads(r.data)


def test_openapi_document_matches_the_routes(server):
    from blockprov_engine.server import Engine
    from blockprov_engine.store import SQLiteStore

    doc = json.loads(server.req("GET", "/openapi.json", token=None).data)
    assert doc["openapi"].startswith("3.1") and doc["components"]["schemas"]["Definition"]["properties"]["nics"]
    store = SQLiteStore(":memory:")
    routes = {(r.resource.canonical, r.method.lower()) for r in Engine(store, tokens=[TOKEN]).app().router.routes()
              if r.method != "HEAD"}
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops if m != "parameters"}
    assert routes == documented


def test_create_read_list_and_no_plain_password_anywhere(server, api):
    body = create(server, api, DEF)
    assert body["id"] == IID and body["version"] >= 1
    user = body["definition"]["users"][0]
    assert "password" not in user and user["hashed_password"].startswith("$6$")
    r = server.req("GET", f"/v1/instances/{IID}")
    got = api.check("/v1/instances/{id}", "GET", r)
    assert r.status == 200 and got["definition"] == body["definition"]
    assert r.headers["ETag"] == f'"{IID}.{body["version"]}"'
    assert got["status"] == {"initialized": False, "result": None, "events": 0, "last_event": None, "channel": {
        "connected": False, "transport": None, "connected_since": None, "last_seen": None, "queued": 0, "dropped": 0}}
    r = server.req("GET", "/v1/instances")
    listed = api.check("/v1/instances", "GET", r)
    assert [i["id"] for i in listed["instances"]] == [IID]
    for path in ("/v1/instances", f"/v1/instances/{IID}", "/openstack/latest/user_data"):
        assert b"S3cret-pass" not in server.req("GET", path, headers={"Blockprov-Instance-Id": IID}).data


def test_create_without_id_generates_one(server, api):
    body = create(server, api, {"hostname": "anon"})
    assert len(body["id"]) == 36 and body["definition"]["name"] == "anon"


def test_conflicts_duplicate_id_and_taken_source_address(server, api):
    create(server, api, minimal("a", source_addresses=["192.0.2.5"]))
    r = server.req("POST", "/v1/instances", minimal("a"))
    assert r.status == 409 and "exists already" in json.loads(r.data)["error"]
    r = server.req("POST", "/v1/instances", minimal("b", source_addresses=["192.0.2.9", "192.0.2.5"]))
    body = api.check("/v1/instances", "POST", r)
    assert r.status == 409 and body["problems"][0]["path"] == "$.source_addresses[1]"
    assert "instance 'a'" in body["problems"][0]["message"]


@pytest.mark.parametrize("doc,path,text", [
    ({"hostname": "x", "nics": [{"name": "eth0", "boot_protocol": "static", "address": "300.1.1.1", "prefix": 24}]},
     "$.nics[0].address", "is not an address"),
    ({"hostname": "x", "bogus": 1}, "$", "unknown key"),
    ({"hostname": "bad_host!"}, "$.hostname", "not valid"),
    ({"hostname": "x", "users": [{"name": "u", "password": "a", "hashed_password": "$6$x$y"}]}, "$.users[0]",
     "not both"),
    ({"hostname": "x", "dns": {"servers": ["nope"]}}, "$.dns.servers[0]", "not an IP"),
    ({"hostname": "x", "storage": {"version": 1, "config": [
        {"id": "d", "type": "disk", "serial": "s"},
        {"id": "p", "type": "partition", "device": "d", "size": "12 parsecs"}]}}, "$.storage.config[1].size", ""),
])
def test_bad_definition_is_400_naming_the_field(server, api, doc, path, text):
    r = server.req("POST", "/v1/instances", doc)
    body = api.check("/v1/instances", "POST", r)
    assert r.status == 400, r.data
    assert any(p["path"] == path and text in p["message"] for p in body["problems"]), body
    assert json.loads(server.req("GET", "/v1/instances").data)["instances"] == []


def test_storage_problem_names_the_item_id(server, api):
    create(server, api, minimal())
    r = server.req("PUT", "/v1/instances/vm-1/storage", {"version": 1, "config": [
        {"id": "d", "type": "disk", "serial": "s"}, {"id": "m", "type": "mount", "device": "nope", "path": "/x"}]})
    body = api.check("/v1/instances/{id}/storage", "PUT", r)
    assert r.status == 400 and any(p["id"] == "m" and p["path"].startswith("$.config[1]") for p in body["problems"])


def test_malformed_and_oversized_bodies(server, api):
    r = server.req("POST", "/v1/instances", raw=b"{not json")
    assert r.status == 400 and "not valid JSON" in api.check("/v1/instances", "POST", r)["error"]
    big = minimal(custom_user_data="#cloud-config\n" + "x" * 100)
    big["files"] = [{"path": f"/f{i}", "content": "y" * 200000} for i in range(6)]
    r = server.req("POST", "/v1/instances", big)
    assert r.status == 413 and "limit" in api.check("/v1/instances", "POST", r)["error"]


def test_auth_is_required_for_every_management_route(server, api):
    create(server, api, minimal())
    routes = [("GET", "/v1/instances", "/v1/instances"), ("POST", "/v1/instances", "/v1/instances"),
              ("GET", "/v1/instances/vm-1", "/v1/instances/{id}"), ("PUT", "/v1/instances/vm-1", "/v1/instances/{id}"),
              ("DELETE", "/v1/instances/vm-1", "/v1/instances/{id}"),
              ("GET", "/v1/instances/vm-1/storage", "/v1/instances/{id}/storage"),
              ("PUT", "/v1/instances/vm-1/storage", "/v1/instances/{id}/storage"), ("GET", "/events", "/events")]
    for token in (None, "wrong-token-wrong-token", TOKEN + "x"):
        for method, path, template in routes:
            r = server.req(method, path, minimal() if method in ("POST", "PUT") else None, token=token)
            assert r.status == 401, (method, path, token)
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            api.check(template, method, r)
    r = server.req("GET", "/v1/instances", headers={"Authorization": f"Basic {TOKEN}"}, token=None)
    assert r.status == 401
    assert server.req("GET", "/v1/instances/vm-1").status == 200  # nothing was deleted or changed
    assert json.loads(server.req("GET", "/v1/instances/vm-1").data)["definition"] == minimal() | {"name": "vm-1.example.com"}


def test_put_replace_if_match_and_id_mismatch(server, api):
    v1 = create(server, api, minimal())["version"]
    r = server.req("PUT", "/v1/instances/vm-1", minimal(timezone="UTC"), headers={"If-Match": f'"vm-1.{v1}"'})
    body = api.check("/v1/instances/{id}", "PUT", r)
    assert r.status == 200 and body["version"] > v1 and body["definition"]["timezone"] == "UTC"
    r = server.req("PUT", "/v1/instances/vm-1", minimal(timezone="CET"), headers={"If-Match": f'"vm-1.{v1}"'})
    assert r.status == 412 and api.check("/v1/instances/{id}", "PUT", r)
    r = server.req("PUT", "/v1/instances/vm-1", minimal("other"))
    assert r.status == 400 and api.check("/v1/instances/{id}", "PUT", r)["problems"][0]["path"] == "$.id"
    r = server.req("PUT", "/v1/instances/nope", minimal("nope"))
    assert r.status == 404 and api.check("/v1/instances/{id}", "PUT", r)
    assert json.loads(server.req("GET", "/v1/instances/vm-1").data)["definition"]["timezone"] == "UTC"


def test_delete(server, api):
    create(server, api, minimal(source_addresses=["127.0.0.1"]))
    assert server.req("GET", "/openstack/latest/meta_data.json", token=None).status == 200
    r = server.req("DELETE", "/v1/instances/vm-1")
    assert r.status == 204
    r = server.req("GET", "/v1/instances/vm-1")
    assert r.status == 404 and api.check("/v1/instances/{id}", "GET", r)
    assert server.req("DELETE", "/v1/instances/vm-1").status == 404
    r = server.req("GET", "/openstack/latest/meta_data.json", token=None)
    assert r.status == 404 and b"127.0.0.1" in r.data


def test_storage_get_put(server, api):
    create(server, api, minimal())
    r = server.req("GET", "/v1/instances/vm-1/storage")
    assert r.status == 404 and api.check("/v1/instances/{id}/storage", "GET", r)
    r = server.req("PUT", "/v1/instances/vm-1/storage", DEF["storage"])
    assert r.status == 200 and api.check("/v1/instances/{id}/storage", "PUT", r)["definition"]["storage"] == DEF["storage"]
    r = server.req("GET", "/v1/instances/vm-1/storage")
    assert api.check("/v1/instances/{id}/storage", "GET", r) == DEF["storage"]
    md = server.req("GET", "/openstack/latest/storagedata", token=None, headers={"Blockprov-Instance-Id": "vm-1"})
    assert json.loads(md.data) == DEF["storage"]


def test_metadata_paths_by_header_and_by_source_address(server, api):
    create(server, api, DEF)
    create(server, api, minimal("local", source_addresses=["127.0.0.1"]))
    h = {"Blockprov-Instance-Id": IID}
    md = json.loads(server.req("GET", "/openstack/latest/meta_data.json", token=None, headers=h).data)
    assert md["uuid"] == IID and md["hostname"] == "web1.example.com"
    assert md["files"] == [{"path": "/etc/motd", "content_path": "/content/0000"}]
    assert server.req("GET", "/openstack/content/0000", token=None, headers=h).data == b"hello from the engine\n"
    assert b"#cloud-config" in server.req("GET", "/openstack/latest/user_data", token=None, headers=h).data
    assert json.loads(server.req("GET", "/openstack/latest/vendor_data.json", token=None, headers=h).data) == \
        {"cloud-init": {"bootcmd": [[True]]}}
    nd = json.loads(server.req("GET", "/openstack/latest/network_data.json", token=None, headers=h).data)
    assert [ln["id"] for ln in nd["links"]] == ["eth0", "eth1"]
    assert json.loads(server.req("GET", "/openstack/2018-08-27/storagedata", token=None, headers=h).data) == DEF["storage"]
    listing = server.req("GET", "/openstack/latest", token=None, headers=h).data.decode().split()
    assert listing == ["meta_data.json", "network_data.json", "storagedata", "user_data", "vendor_data.json"]
    assert server.req("GET", "/openstack", token=None, headers=h).data == b"latest\n"
    by_addr = json.loads(server.req("GET", "/openstack/latest/meta_data.json", token=None).data)
    assert by_addr["uuid"] == "local"
    r = server.req("GET", "/openstack/latest/storagedata", token=None)
    assert r.status == 404 and api.check("/openstack/{version}/{name}", "GET", r) is None
    r = server.req("GET", "/openstack/latest/meta_data.json", token=None, headers={"Blockprov-Instance-Id": "nope"})
    assert r.status == 404 and "nope" in api.check("/openstack/{version}/{name}", "GET", r)["error"]
    assert server.req("GET", "/openstack/latest/secrets", token=None, headers=h).status == 404
    assert server.req("GET", "/openstack/../etc/passwd", token=None, headers=h).status == 404


def test_etag_304_and_long_poll_woken_by_a_change(server, api):
    create(server, api, minimal(source_addresses=["127.0.0.1"]))
    r = server.req("GET", "/openstack/latest/meta_data.json", token=None)
    tag = r.headers["ETag"]
    r = server.req("GET", "/openstack/latest/meta_data.json", token=None, headers={"If-None-Match": tag})
    assert r.status == 304 and r.headers["ETag"] == tag
    r = server.req("GET", "/openstack/latest/meta_data.json?wait=0.3", token=None, headers={"If-None-Match": tag})
    assert r.status == 304
    assert server.req("GET", "/openstack/latest/meta_data.json?wait=abc", token=None).status == 400
    assert server.req("GET", "/openstack/latest/meta_data.json?wait=9999", token=None).status == 400
    held = Held(lambda: server.req("GET", "/openstack/latest/storagedata?wait=20", token=None,
                                   headers={"If-None-Match": tag}))
    time.sleep(0.5)
    changed = time.monotonic()
    assert server.req("PUT", "/v1/instances/vm-1/storage", DEF["storage"]).status == 200
    r, woke = held.answer()
    assert r.status == 200 and json.loads(r.data) == DEF["storage"]
    assert r.headers["ETag"] != tag
    assert woke - changed < 2.0, woke - changed


def test_by_default_an_instance_is_its_source_address_and_the_header_is_ignored(db_url):
    s = Server(db_url, identity=None)
    try:
        assert s.req("POST", "/v1/instances", minimal()).status == 201
        r = s.req("GET", "/openstack/latest/meta_data.json", token=None, headers={"Blockprov-Instance-Id": "vm-1"})
        assert r.status == 404 and b"source address 127.0.0.1" in r.data
        r = s.req("POST", "/events", {"name": "x", "event_type": "finish"}, token=None,
                  headers={"Blockprov-Instance-Id": "vm-1"})
        assert r.status == 404  # nobody marks another instance initialized by naming it
    finally:
        s.close()
    s = Server(db_url, "--no-instance-header", identity=None)  # the old spelling of the default
    try:
        r = s.req("GET", "/openstack/latest/meta_data.json", token=None, headers={"Blockprov-Instance-Id": "vm-1"})
        assert r.status == 404
    finally:
        s.close()


def test_a_signed_header_names_the_instance_and_a_forged_one_is_refused(server):
    assert server.req("POST", "/v1/instances", minimal()).status == 201
    ok = server.req("GET", "/openstack/latest/meta_data.json", token=None, headers={"Blockprov-Instance-Id": "vm-1"})
    assert ok.status == 200 and json.loads(ok.data)["uuid"] == "vm-1"
    for sig in ("", "00" * 32, server.signature("vm-2"), "é"):
        r = server.req("GET", "/openstack/latest/meta_data.json", token=None,
                       headers={"Blockprov-Instance-Id": "vm-1", "Blockprov-Instance-Id-Signature": sig.encode().decode("latin-1")})
        assert r.status == 403 and json.loads(r.data)["error"], sig
        r = server.req("POST", "/events", {"name": "x", "event_type": "finish"}, token=None,
                       headers={"Blockprov-Instance-Id": "vm-1", "Blockprov-Instance-Id-Signature": sig.encode().decode("latin-1")})
        assert r.status == 403


def test_bad_requests_get_4xx_json_never_500(server):
    import socket

    def raw_request(body_chunks: list[bytes], path="/v1/instances", token=TOKEN) -> tuple[int, bytes]:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            sock.sendall(head.encode())
            for c in body_chunks:
                sock.sendall(f"{len(c):x}\r\n".encode() + c + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        status = int(data.split(b" ", 2)[1])
        return status, data.split(b"\r\n\r\n", 1)[1]

    doc = minimal()
    doc["custom_user_data"] = "#cloud-config\n" + "# padding\n" * 20000  # about 200 KB
    body = json.dumps(doc).encode()
    assert len(body) > 150_000
    status, _ = raw_request([body[i:i + 16384] for i in range(0, len(body), 16384)])
    assert status == 201  # a valid definition sent in 16 KiB chunks is read whole
    big = b'{"id": "x", "pad": "' + b"a" * (5 << 19) + b'"}'
    status, payload = raw_request([big[i:i + 65536] for i in range(0, len(big), 65536)])
    assert status == 413 and b"error" in payload
    r = server.req("GET", "/v1/instances", token=None, headers={"Authorization": "Bearer t\u00e9st".encode().decode("latin-1")})
    assert r.status == 401 and json.loads(r.data)["error"]
    r = server.req("POST", "/v1/instances", raw=b"[" * 5000 + b"]" * 5000)
    assert r.status == 400 and b"nested deeper" in r.data
    r = server.req("POST", "/events", raw=b'{"a":' * 5000 + b"1" + b"}" * 5000, token=None,
                   headers={"Blockprov-Instance-Id": "vm-1"})  # vm-1 exists: the chunked definition above
    assert r.status == 400 and b"nested deeper" in r.data


def test_events_webhook_follow_and_initialized(server, api):
    create(server, api, minimal())
    h = {"Blockprov-Instance-Id": "vm-1"}
    r = server.req("POST", "/events", {"name": "init-local", "event_type": "start"}, token=None, headers=h)
    assert r.status == 201 and api.check("/events", "POST", r)["instance"] == "vm-1"
    assert server.req("POST", "/events", [1, 2], token=None, headers=h).status == 400
    assert server.req("POST", "/events", {"name": "x", "event_type": "start"}, token=None).status == 404
    r = server.req("POST", "/events", raw=b"{" + b" " * 70000 + b"}", token=None, headers=h)
    assert r.status == 413
    r = server.req("GET", "/events?instance=vm-1")
    page = api.check("/events", "GET", r)
    assert [e["event"]["name"] for e in page["events"]] == ["init-local"]
    held = Held(lambda: server.req("GET", f"/events?instance=vm-1&since={page['next']}&wait=20"))
    time.sleep(0.5)
    sent = time.monotonic()
    server.req("POST", "/events", {"name": "modules-final", "event_type": "finish", "result": "SUCCESS"},
               token=None, headers=h)
    r, at = held.answer()
    got = api.check("/events", "GET", r)
    assert [e["event"]["name"] for e in got["events"]] == ["modules-final"] and at - sent < 2.0
    status = json.loads(server.req("GET", "/v1/instances/vm-1").data)["status"]
    assert status["initialized"] is True and status["result"] == "SUCCESS" and status["events"] == 2
    assert server.req("GET", "/events?since=x").status == 400


def test_unknown_route_and_method_are_json_errors(server):
    r = server.req("GET", "/v2/nothing")
    assert r.status == 404 and "error" in json.loads(r.data)
    r = server.req("PATCH", "/v1/instances")
    assert r.status == 405 and "error" in json.loads(r.data)


def test_a_change_in_one_process_wakes_a_watcher_of_another(db_url):
    """Two engine processes on one database: PostgreSQL LISTEN/NOTIFY, SQLite data_version."""
    a, b = Server(db_url), Server(db_url)
    try:
        assert a.req("POST", "/v1/instances", minimal(source_addresses=["127.0.0.1"])).status == 201
        until(lambda: b.req("GET", "/openstack/latest/meta_data.json", token=None).status == 200, 5,
              "b to learn of the new instance")
        tag = b.req("GET", "/openstack/latest/meta_data.json", token=None).headers["ETag"]
        held = Held(lambda: b.req("GET", "/openstack/latest/storagedata?wait=20", token=None,
                                  headers={"If-None-Match": tag}))
        time.sleep(0.5)
        sent = time.monotonic()
        assert a.req("PUT", "/v1/instances/vm-1/storage", DEF["storage"]).status == 200
        r, at = held.answer()
        assert r.status == 200 and json.loads(r.data) == DEF["storage"]
        assert at - sent < 1.0, at - sent
    finally:
        a.close()
        b.close()


def engine(*args, env=None):
    return subprocess.run([sys.executable, "-m", "blockprov_engine", *args], capture_output=True, text=True,
                          env=env)


def test_cli_define_list_show_build_seed_delete(db_url, tmp_path):
    d = ROOT / "tests" / "fixtures" / "engine" / "web1.yaml"
    r = engine("define", "--db", db_url, str(d))
    assert r.returncode == 0 and "created" in r.stdout, r.stderr
    assert "replaced" in engine("define", "--db", db_url, str(d)).stdout
    assert IID in engine("list", "--db", db_url).stdout
    shown = json.loads(engine("show", "--db", db_url, IID).stdout)
    assert shown["users"][0]["hashed_password"].startswith("$6$") and "password" not in shown["users"][0]
    out = tmp_path / "seed.iso"
    r = engine("build-seed", IID, "--db", db_url, "--format", "config-2", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "LABEL=\"config-2\"" in subprocess.run(["blkid", "-p", str(out)], capture_output=True, text=True).stdout
    assert engine("build-seed", "nope", "--db", db_url, "--format", "nocloud", "-o", str(tmp_path / "n.iso")).returncode == 1
    assert engine("delete", "--db", db_url, IID).returncode == 0
    assert engine("show", "--db", db_url, IID).returncode == 1


def test_cli_refuses_bad_input_with_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("hostname: [oops\n")
    r = engine("validate", str(bad))
    assert r.returncode == 2 and "not valid YAML or JSON at line 2" in r.stderr
    bad.write_text("hostname: x\nusers: [{name: Root}]\n")
    r = engine("validate", "--json", str(bad))
    assert r.returncode == 2 and json.loads(r.stdout)["problems"][0]["path"] == "$.users[0].name"
    db = tmp_path / "e.db"
    r = engine("define", "--db", str(db), str(bad))
    assert r.returncode == 2 and "$.users[0].name" in r.stderr
    env = {k: v for k, v in __import__("os").environ.items() if k != "BLOCKPROV_ENGINE_TOKEN"}
    r = engine("serve", "--db", str(db), env=env)
    assert r.returncode == 2 and "bearer token" in r.stderr
    r = engine("serve", "--db", str(db), "--listen", "0.0.0.0:8775", env={**env, "BLOCKPROV_ENGINE_TOKEN": TOKEN})
    assert r.returncode == 2 and "wildcard" in r.stderr
    assert len(engine("token").stdout.strip()) >= 40


def test_postgres_listener_that_loses_its_connection_catches_up(pg_db):
    """The LISTEN connection is killed by the server; changes made meanwhile arrive once it has reconnected."""
    import psycopg

    a, b = Server(pg_db), Server(pg_db)
    try:
        assert a.req("POST", "/v1/instances", minimal(source_addresses=["127.0.0.1"])).status == 201
        with psycopg.connect(pg_db, autocommit=True) as c:
            until(lambda: len(c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                        "WHERE application_name = 'blockprov-engine-listen' "
                                        "AND datname = current_database()").fetchall()) == 2, 5,
                  "both processes' listeners to be killed")
        assert a.req("PUT", "/v1/instances/vm-1/storage", DEF["storage"]).status == 200
        until(lambda: b.req("GET", "/openstack/latest/storagedata", token=None).status == 200, 10,
              "b to catch up after its listener was killed")
        assert json.loads(b.req("GET", "/openstack/latest/storagedata", token=None).data) == DEF["storage"]
    finally:
        a.close()
        b.close()


def test_postgres_write_connection_lost_is_503_then_reconnects(pg_db):
    import psycopg

    s = Server(pg_db)
    try:
        api = OpenAPI(s)
        assert s.req("POST", "/v1/instances", minimal()).status == 201
        with psycopg.connect(pg_db, autocommit=True) as c:
            killed = c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE application_name = 'blockprov-engine' AND datname = current_database()").fetchall()
        assert len(killed) == 1
        r = s.req("PUT", "/v1/instances/vm-1/storage", DEF["storage"])
        if r.status == 503:  # the broken connection was found on this request; the next one reconnects
            assert "database unavailable" in api.check("/v1/instances/{id}/storage", "PUT", r)["error"]
            r = s.req("PUT", "/v1/instances/vm-1/storage", DEF["storage"])
        assert r.status == 200, r.data
        assert json.loads(s.req("GET", "/v1/instances/vm-1/storage").data) == DEF["storage"]
    finally:
        s.close()
