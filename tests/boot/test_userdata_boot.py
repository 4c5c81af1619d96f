"""User-data features that need the shell, through whole boots of a temp root: ``#include`` over real HTTP
(a local server), ``#include-once`` kept across boots, ``## template: jinja`` rendered with the instance-data,
vendor-data switched off by user-data, ``allow_userdata: false``."""
import json
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.boot.helpers import bp, isolated_cfg, nocloud_seed, reboot


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    isolated_cfg(r)
    return r


@pytest.fixture
def server():
    """A real HTTP server; ``pages`` maps a path to its body (changeable between boots), ``hits`` counts GETs."""
    pages: dict[str, bytes] = {}
    hits: dict[str, int] = {}

    class H(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits[self.path] = hits.get(self.path, 0) + 1
            body = pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    srv.pages, srv.hits = pages, hits
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()


def merged(root):
    return json.loads((root / "var/lib/blockprov/instance/config.json").read_text())


def test_include_and_include_once_across_boots(root, server):
    server.pages["/every"] = b"#cloud-config\nevery: 1\n"
    server.pages["/once"] = b"#cloud-config\nonce: 1\n"
    server.pages["/script"] = b"#!/bin/sh\necho included-script > \"$0.ran\"\n"
    nocloud_seed(root, "instance-id: i-1\n",
                 f"#include\n{server.url}/every\n{server.url}/script\n#include-once {server.url}/once\n"
                 f"{server.url}/missing\n")
    res = bp(root, "boot")
    cfg = merged(root)
    assert cfg["every"] == 1 and cfg["once"] == 1, res.stdout + res.stderr
    st = json.loads(bp(root, "status", "--format", "json").stdout)
    assert any("/missing" in w and "404" in w for w in st["warnings"]), st  # told, and the rest applied
    scripts = list((root / "var/lib/blockprov/instances/i-1/scripts").iterdir())
    assert [p.name for p in scripts if p.name.endswith(".ran")], scripts  # the included script ran
    cache = root / "var/lib/blockprov/instances/i-1/urlcache"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert [stat.S_IMODE(p.stat().st_mode) for p in cache.iterdir()] == [0o600]

    # a reboot of the same instance: #include is fetched again, #include-once is read from its cache
    server.pages["/every"] = b"#cloud-config\nevery: 2\n"
    server.pages["/once"] = b"#cloud-config\nonce: 2\n"
    reboot(root)
    bp(root, "boot")
    assert merged(root)["every"] == 2 and merged(root)["once"] == 1
    assert server.hits["/once"] == 1 and server.hits["/every"] == 2


def test_include_offline_in_init_local_is_not_a_warning_and_the_network_stage_fetches(root, server):
    server.pages["/cc"] = b"#cloud-config\nincluded: yes\n"
    nocloud_seed(root, "instance-id: i-1\n", f"#include {server.url}/cc\n")
    res = bp(root, "init", "--local", check=True)
    assert "include" not in res.stderr and "included" not in merged(root)
    bp(root, "init", check=True)
    assert merged(root)["included"] is True


def test_jinja_user_data_sees_the_instance_data(root):
    nocloud_seed(root, "instance-id: i-jinja\nlocal-hostname: web-1\n",
                 "## template: jinja\n#cloud-config\n"
                 "final_message: \"{{ v1.local_hostname }} {{ instance_id }} {{ ds.meta_data['local-hostname'] }}"
                 " {{ nothere }}\"\n")
    bp(root, "boot")
    assert merged(root)["final_message"] == "web-1 i-jinja web-1 CI_MISSING_JINJA_VAR/nothere"
    st = json.loads(bp(root, "status", "--format", "json").stdout)
    assert any("nothere" in w for w in st["warnings"]), st


def test_vendor_data_disabled_by_user_data_and_its_prefix(root):
    nocloud_seed(root, "instance-id: i-1\n", "#cloud-config\nvendor_data: {enabled: false}\n",
                 vendor=f"#!/bin/sh\ntouch {root}/vendor-ran\n")
    bp(root, "boot")
    assert not (root / "vendor-ran").exists()
    assert not list((root / "var/lib/blockprov/scripts/vendor").glob("*"))


def test_vendor_data_prefix_wraps_each_vendor_script(root):
    nocloud_seed(root, "instance-id: i-1\n", "#cloud-config\nvendor_data: {prefix: [/bin/sh, -x]}\n",
                 vendor=f"#!/bin/false\ntouch {root}/vendor-ran\n")  # /bin/false would fail it without the prefix
    res = bp(root, "boot")
    assert (root / "vendor-ran").exists(), res.stderr


def test_allow_userdata_false(root):
    isolated_cfg(root, "allow_userdata: false\n")
    nocloud_seed(root, "instance-id: i-1\n", "#cloud-config\nfinal_message: from-user\n",
                 vendor="#cloud-config\nfinal_message: from-vendor\n")
    bp(root, "boot")
    assert merged(root)["final_message"] == "from-vendor"
