"""The systemd units: valid for systemd-analyze, ordered like cloud-init's stages."""
import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "udev"


def unit(name):
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(UNITS / name)
    return cp


def words(cp, section, key):
    return cp.get(section, key, fallback="").split()


def test_stage_order():
    local, net, config, final = (unit(n) for n in ("blockprov-local.service", "blockprov.service",
                                                    "blockprov-config.service", "blockprov-final.service"))
    assert "network-pre.target" in words(local, "Unit", "Before")
    assert "blockprov-local.service" in words(net, "Unit", "After")
    assert "network-online.target" in words(net, "Unit", "Before")
    assert "network-online.target" in words(config, "Unit", "After")
    assert "blockprov-config.service" in words(final, "Unit", "After")
    cmds = [u.get("Service", "ExecStart") for u in (local, net, config, final)]
    assert cmds == ["/usr/bin/blockprov init --local", "/usr/bin/blockprov init",
                    "/usr/bin/blockprov modules --mode config", "/usr/bin/blockprov modules --mode final"]
    fast = unit("blockprov-boot.service")
    assert fast.get("Service", "ExecStart") == "/usr/bin/blockprov boot"
    assert {"blockprov-local.service", "blockprov.service"} <= set(words(fast, "Unit", "Conflicts"))


def test_every_command_in_the_units_parses():
    from blockprov.cli.main import _parser
    from blockprov_engine.cli import _parser as engine_parser

    for f in UNITS.glob("*.service"):
        argv = unit(f.name).get("Service", "ExecStart").split()
        (engine_parser() if argv[0].endswith("blockprov-engine") else _parser()).parse_args(argv[1:])  # typo: exit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify(tmp_path):
    exe = shutil.which("blockprov") or sys.executable
    engine = shutil.which("blockprov-engine") or sys.executable
    for f in [p for ext in ("service", "target", "path", "socket") for p in UNITS.glob(f"*.{ext}")]:
        text = f.read_text().replace("/usr/bin/blockprov-engine", engine).replace("/usr/bin/blockprov", exe)
        (tmp_path / f.name).write_text(text)
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
                         capture_output=True, text=True, env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0 and "blockprov" not in res.stderr, res.stderr


def test_hotplug_units_wait_for_the_boot_and_follow_the_queue():
    svc, path, watch = unit("blockprov-hotplug.service"), unit("blockprov-hotplug.path"), unit("blockprov-watch.service")
    assert {"blockprov-final.service", "blockprov-boot.service"} <= set(words(svc, "Unit", "After"))
    assert {"blockprov-final.service", "blockprov-boot.service"} <= set(words(watch, "Unit", "After"))
    assert path.get("Path", "PathExistsGlob") == "/run/blockprov/hotplug/queue/*.event"
    rules = (UNITS / "90-blockprov-hotplug.rules").read_text()
    code = [ln for ln in rules.splitlines() if ln.strip() and not ln.startswith("#")]
    assert sum('RUN+="/usr/lib/blockprov/hotplug-enqueue"' in ln for ln in code) == 2
    assert not any("RUN" in ln and "hotplug-enqueue" not in ln for ln in code)  # nothing else runs from udev
