"""`blockprov-engine serve-local`: one instance's storagedata from a file, re-read on change, long-poll woken."""
import json
import subprocess
import sys
import time

import urllib3

from tests.engine.conftest import Held, free_port

STORAGE = "version: 1\nconfig:\n  - {id: d1, type: disk, serial: vol-1, ptable: gpt}\n"


class Local:
    def __init__(self, *args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "blockprov_engine", "serve-local", *args,
                                      "--listen", f"127.0.0.1:{self.port}"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=30))
        deadline = time.monotonic() + 20
        while True:
            try:
                self.http.request("GET", self.url + "/healthz")
                break
            except urllib3.exceptions.HTTPError:
                assert self.proc.poll() is None and time.monotonic() < deadline, self.proc.communicate()
                time.sleep(0.05)

    def get(self, path, **headers):
        return self.http.request("GET", self.url + path, headers=headers)

    def close(self) -> str:
        self.proc.terminate()
        err = self.proc.communicate(timeout=10)[1]
        assert self.proc.returncode == 0, err
        return err


def test_serve_local_serves_and_follows_the_file(tmp_path):
    f = tmp_path / "storagedata.yaml"
    f.write_text(STORAGE)
    s = Local("--storagedata", str(f), "--instance-id", "local-1")
    try:
        assert json.loads(s.get("/openstack/latest/meta_data.json").data) == {"uuid": "local-1"}
        r = s.get("/openstack/latest/storagedata")
        assert r.status == 200 and json.loads(r.data)["config"][0]["serial"] == "vol-1"
        assert s.get("/openstack/latest/user_data").status == 404
        tag = r.headers["ETag"]
        assert s.get("/openstack/latest/storagedata", **{"If-None-Match": tag}).status == 304
        held = Held(lambda: s.get("/openstack/latest/storagedata?wait=20", **{"If-None-Match": tag}))
        time.sleep(0.4)
        changed = time.monotonic()
        f.write_text(STORAGE.replace("vol-1", "vol-2"))
        r, at = held.answer()
        assert r.status == 200 and json.loads(r.data)["config"][0]["serial"] == "vol-2"
        assert at - changed < 1.0
        new_tag = r.headers["ETag"]
        f.write_text("version: 1\nconfig: [{id: p, type: partition, device: nowhere, size: 1G}]\n")  # dangling
        time.sleep(0.5)
        r = s.get("/openstack/latest/storagedata")
        assert r.headers["ETag"] == new_tag and json.loads(r.data)["config"][0]["serial"] == "vol-2"
    finally:
        err = s.close()
    assert "still serving version" in err and "$.config[0].device [p]" in err


def test_serve_local_never_serves_a_file_caught_mid_write(tmp_path):
    """`cat > file` truncates, then writes: neither the empty file nor a prefix of the new one is served."""
    f = tmp_path / "storagedata.yaml"
    f.write_text(STORAGE)
    s = Local("--storagedata", str(f), "--instance-id", "local-1")
    try:
        for n in range(2, 6):
            items = "".join(f"  - {{id: d{i}, type: disk, serial: vol-{i}}}\n" for i in range(1, n + 1))
            with open(f, "w") as out:  # truncated here
                time.sleep(0.03)
                out.write("version: 1\nconfig:\n")
                out.flush()
                time.sleep(0.03)
                out.write(items)
            deadline = time.monotonic() + 5
            while len(json.loads(s.get("/openstack/latest/storagedata").data)["config"]) != n:
                assert time.monotonic() < deadline, f"the whole file ({n} items) is never served"
                time.sleep(0.05)
    finally:
        err = s.close()
    assert "still serving" not in err, err


def test_serve_local_with_a_definition(tmp_path):
    from tests.conftest import ROOT

    f = tmp_path / "s.json"
    f.write_text(json.dumps({"storage": {"version": 1, "config": []}}))
    s = Local("--storagedata", str(f), "--definition", str(ROOT / "tests/fixtures/engine/web1.yaml"))
    try:
        md = json.loads(s.get("/openstack/latest/meta_data.json").data)
        assert md["hostname"] == "web1.example.com"
        assert json.loads(s.get("/openstack/latest/storagedata").data) == {"version": 1, "config": []}
        assert b"#cloud-config" in s.get("/openstack/latest/user_data").data
        assert s.get("/v1/instances").status == 404  # no management API in the local variant
    finally:
        s.close()


def test_serve_local_refuses_a_bad_file_with_exit_2(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("version: 1\nconfig: [{id: p, type: partition, device: nowhere, size: 1G}]\n")
    r = subprocess.run([sys.executable, "-m", "blockprov_engine", "serve-local", "--storagedata", str(f)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "$.config[0].device [p]" in r.stderr and "dangling" in r.stderr
