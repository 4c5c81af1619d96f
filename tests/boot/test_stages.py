"""Boot stages against a temp root: frequencies, instance changes, scripts, status, query, per, analyze."""
import json
import os
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.boot.helpers import bp, events, finished, isolated_cfg, nocloud_seed, reboot

SCRIPTS_UD = """Content-Type: multipart/mixed; boundary="XX"
MIME-Version: 1.0

--XX
Content-Type: text/cloud-config

#cloud-config
hostname: from-userdata
--XX
Content-Type: text/x-shellscript

#!/bin/sh
echo "$INSTANCE_ID" >> {root}/user-script.log
--XX
Content-Type: text/x-shellscript-per-boot

#!/bin/sh
echo boot >> {root}/per-boot.log
--XX
Content-Type: text/x-shellscript-per-once

#!/bin/sh
echo once >> {root}/per-once.log
--XX
Content-Type: text/cloud-boothook

#cloud-boothook
echo "hook $INSTANCE_ID" >> {root}/boothook.log
--XX--
"""


def lines(p):
    return p.read_text().splitlines() if p.exists() else []


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    isolated_cfg(r)
    return r


def test_first_boot_reboot_and_new_instance(root):
    nocloud_seed(root, "instance-id: i-1\nlocal-hostname: h1\n", SCRIPTS_UD.format(root=root))
    bp(root, "boot", check=True)
    assert lines(root / "user-script.log") == ["i-1"]
    assert lines(root / "per-boot.log") == ["boot"] and lines(root / "per-once.log") == ["once"]
    assert lines(root / "boothook.log") == ["hook i-1"]
    link = root / "var/lib/blockprov/instance"
    assert os.readlink(link) == "instances/i-1"
    assert (root / "var/lib/blockprov/instances/i-1/sem/scripts_user").exists()

    reboot(root)
    bp(root, "boot", check=True)
    assert lines(root / "user-script.log") == ["i-1"]  # per-instance: not again
    assert lines(root / "per-boot.log") == ["boot", "boot"]
    assert lines(root / "per-once.log") == ["once"]
    assert lines(root / "boothook.log") == ["hook i-1", "hook i-1"]  # boothooks run every boot

    nocloud_seed(root, "instance-id: i-2\n", SCRIPTS_UD.format(root=root))
    reboot(root)
    bp(root, "boot", check=True)
    assert lines(root / "user-script.log") == ["i-1", "i-2"]  # new instance: per-instance runs again
    assert lines(root / "per-once.log") == ["once"]  # once: never again
    assert (root / "var/lib/blockprov/data/previous-instance-id").read_text().strip() == "i-1"
    assert os.readlink(root / "var/lib/blockprov/instance") == "instances/i-2"


def test_separate_stage_processes_equal_boot(root):
    nocloud_seed(root, "instance-id: i-1\n", SCRIPTS_UD.format(root=root))
    for args in (["init", "--local"], ["init"], ["modules", "--mode", "config"], ["modules", "--mode", "final"]):
        bp(root, *args, check=True)
    assert lines(root / "user-script.log") == ["i-1"]
    names = [e["name"] for e in events(root) if e["event_type"] == "finish"]
    assert [n for n in names if "/" not in n] == ["init-local", "init-network", "modules-config", "modules-final"]
    assert "modules-final/config-scripts_user" in names
    assert bp(root, "status").returncode == 0


def test_module_failure_is_reported_and_retried_next_boot(root):
    nocloud_seed(root, "instance-id: i-1\n", f"#!/bin/sh\n[ -e {root}/fixed ] || exit 3\necho ok > {root}/done\n")
    res = bp(root, "boot")
    assert res.returncode == 1 and "scripts_user" in res.stderr
    st = json.loads(bp(root, "status", "--json").stdout)
    assert st["status"] == "error" and st["exit_code"] == 1 and "exit 3" in st["errors"][0]
    assert finished(root, "config-scripts_user")[-1]["result"] == "FAIL"
    assert not (root / "var/lib/blockprov/instances/i-1/sem/scripts_user").exists()
    (root / "fixed").touch()
    reboot(root)
    assert bp(root, "boot").returncode in (0, 3)
    assert (root / "done").read_text() == "ok\n"


def test_broken_user_data_part_gives_degraded_and_the_rest_applies(root):
    ud = SCRIPTS_UD.format(root=root).replace("hostname: from-userdata", "hostname: [unclosed")
    nocloud_seed(root, "instance-id: i-1\n", ud)
    bp(root, "boot")
    res = bp(root, "status", "--long")
    assert res.returncode == 2 and "degraded done" in res.stdout and "invalid cloud-config YAML" in res.stdout
    assert lines(root / "user-script.log") == ["i-1"]


def test_no_datasource_finishes_fast_and_status_wait_returns(root):
    t = time.monotonic()
    bp(root, "boot", check=True)
    assert time.monotonic() - t < 5
    data = json.loads((root / "run/blockprov/instance-data.json").read_text())
    assert data["v1"]["instance_id"] == "iid-datasource-none" and data["v1"]["datasource"] == "None"
    res = bp(root, "status", "--wait", "--long", timeout=10)
    assert res.returncode == 0 and "no datasource found" in res.stdout


def test_status_wait_before_and_during_boot(tmp_path, root):
    res = bp(root, "status", "--wait", timeout=10)  # nothing ran, nothing running: answers at once
    assert res.returncode == 1 and "not run" in res.stdout
    nocloud_seed(root, "instance-id: i-1\n", f"#!/bin/sh\nsleep 1.5\ntouch {root}/slept\n")
    proc = subprocess.Popen([sys.executable, "-m", "blockprov", "boot", "--root", str(root)])
    try:
        deadline = time.monotonic() + 10
        while not (root / "run/blockprov/status.json").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        res = bp(root, "status", "--wait", timeout=20)
        assert res.returncode == 0 and "status: done" in res.stdout
        assert (root / "slept").exists()
    finally:
        proc.wait(20)


def test_unknown_module_in_system_config_is_exit_2_and_writes_nothing(root):
    isolated_cfg(root, "final_modules: [scripts_user, no_such_module]\n")
    nocloud_seed(root, "instance-id: i-1\n")
    res = bp(root, "boot")
    assert res.returncode == 2 and "$.final_modules[1]: unknown module 'no_such_module'" in res.stderr
    assert not (root / "var/lib/blockprov/instances").exists() and not (root / "run/blockprov/status.json").exists()


def test_module_list_entries_with_frequency_and_single(root):
    isolated_cfg(root, "final_modules: [[scripts_user, always]]\n")
    nocloud_seed(root, "instance-id: i-1\n", f"#!/bin/sh\necho x >> {root}/n\n")
    bp(root, "boot", check=True)
    reboot(root)
    bp(root, "boot", check=True)
    assert lines(root / "n") == ["x", "x"]  # frequency from the list entry wins
    assert bp(root, "single", "--name", "scripts_user", "--frequency", "once").returncode == 0
    assert bp(root, "single", "--name", "scripts_user", "--frequency", "once").returncode == 0
    assert lines(root / "n") == ["x", "x", "x"]  # once: the second single was skipped
    assert (root / "var/lib/blockprov/sem/scripts_user.once").exists()
    assert bp(root, "single", "--name", "nope").returncode == 2


def test_per_command(root):
    nocloud_seed(root, "instance-id: i-1\n")
    bp(root, "boot", check=True)
    out = root / "per.log"
    cmd = ["sh", "-c", f"echo run >> {out}"]
    for _ in range(2):
        assert bp(root, "per", "once", "greet", *cmd).returncode == 0
        assert bp(root, "per", "instance", "greet", *cmd).returncode == 0
        assert bp(root, "per", "always", "greet", *cmd).returncode == 0
    assert lines(out) == ["run"] * 4  # once 1 + instance 1 + always 2
    assert bp(root, "per", "once", "fails", "false").returncode == 1
    assert bp(root, "per", "once", "fails", "true").returncode == 0  # a failure set no semaphore


def test_instance_data_redacts_secrets_and_query(root):
    ud = "#cloud-config\nchpasswd: {list: 'root:plainpw'}\nusers: [{name: u, passwd: plainpw}]\n"
    nocloud_seed(root, "instance-id: i-1\nlocal-hostname: qhost\nregion: r1\n", ud)
    bp(root, "boot", check=True)
    public = root / "run/blockprov/instance-data.json"
    sensitive = root / "run/blockprov/instance-data-sensitive.json"
    assert "plainpw" not in public.read_text()
    assert stat.S_IMODE(public.stat().st_mode) == 0o644 and stat.S_IMODE(sensitive.stat().st_mode) == 0o600
    data = json.loads(public.read_text())
    assert "/merged_cfg/chpasswd" in data["sensitive_keys"] and data["ds"]["user_data"].startswith("REDACTED")
    assert bp(root, "query", "instance_id").stdout.strip() == "i-1"
    assert bp(root, "query", "v1.local_hostname").stdout.strip() == "qhost"
    assert bp(root, "query", "ds.meta_data.region").stdout.strip() == "r1"
    assert bp(root, "query", "no.such.key").returncode == 1


def test_clean(root):
    nocloud_seed(root, "instance-id: i-1\n")
    bp(root, "boot", check=True)
    assert bp(root, "clean", "--logs").returncode == 0
    assert sorted(p.name for p in (root / "var/lib/blockprov").iterdir()) == ["seed"]
    assert not (root / "run/blockprov").exists() and not (root / "var/log/blockprov").exists()
    bp(root, "clean", "--seed")
    assert not (root / "var/lib/blockprov/seed").exists()


def test_analyze_show_blame_plot(root, tmp_path):
    nocloud_seed(root, "instance-id: i-1\n", "#!/bin/sh\nsleep 0.3\n")
    bp(root, "boot", check=True)
    reboot(root)
    bp(root, "boot", check=True)
    show = bp(root, "analyze", "show").stdout
    assert [l.split(":")[0] for l in show.splitlines() if l.startswith("boot ")] == ["boot 1", "boot 2"]
    assert "config-scripts_user" in show
    blame = bp(root, "analyze", "blame").stdout.splitlines()
    assert blame and all(float(a.split()[0]) >= float(b.split()[0]) for a, b in zip(blame, blame[1:]))
    out = tmp_path / "boot.svg"
    assert bp(root, "analyze", "plot", "--out", str(out)).returncode == 0
    import xml.etree.ElementTree as ET
    svg = ET.parse(out).getroot()
    assert svg.tag.endswith("svg") and "modules-final" in out.read_text()


class _Collector(BaseHTTPRequestHandler):
    got: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_events_reach_a_webhook_and_a_dead_one_does_not_hold_boot(root):
    _Collector.got = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        isolated_cfg(root, f"reporting: {{hook: {{type: webhook, endpoint: 'http://127.0.0.1:{srv.server_port}/ev'}}}}\n")
        nocloud_seed(root, "instance-id: i-1\n")
        bp(root, "boot", check=True)
    finally:
        srv.shutdown()
    names = {(e["name"], e["event_type"]) for e in _Collector.got}
    assert ("modules-final", "finish") in names and ("modules-final/config-scripts_user", "finish") in names
    fin = [e for e in _Collector.got if e["event_type"] == "finish"][0]
    assert {"name", "description", "event_type", "origin", "timestamp", "result", "duration"} <= set(fin)

    reboot(root)
    # A port that accepts nothing: connection refused, retried, then given up within the deadline.
    isolated_cfg(root, "reporting: {hook: {type: webhook, endpoint: 'http://127.0.0.1:9/ev', retries: 2, deadline: 1}}\n")
    t = time.monotonic()
    assert bp(root, "boot").returncode in (0, 3)
    assert time.monotonic() - t < 5


def test_merge_precedence_system_datasource_vendor_user(root):
    isolated_cfg(root, "who: system\nonly_system: 1\nnested: {a: system, b: system, c: system}\n")
    nocloud_seed(root, "instance-id: i-1\n", "#cloud-config\nwho: user\nnested: {a: user}\n",
                 vendor="#cloud-config\nwho: vendor\nonly_vendor: 1\nnested: {a: vendor, b: vendor}\n")
    bp(root, "boot", check=True)
    cfg = json.loads((root / "run/blockprov/instance-data-sensitive.json").read_text())["merged_cfg"]
    assert (cfg["who"], cfg["only_system"], cfg["only_vendor"]) == ("user", 1, 1)
    assert cfg["nested"] == {"a": "user", "b": "vendor", "c": "system"}
