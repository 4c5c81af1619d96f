import hashlib
import json
import subprocess
import sys
from pathlib import Path

import yaml


def write_config(path: Path, items: list[dict], version: int = 1) -> Path:
    path.write_text(yaml.safe_dump({"storage": {"version": version, "config": items}}, sort_keys=False))
    return path


def apply(cfg: Path, root: Path, *extra: str, env=None) -> tuple[int, dict]:
    res = subprocess.run([sys.executable, "-m", "blockprov", "storage", "apply", str(cfg), "--root", str(root),
                          "--json", *extra], capture_output=True, text=True, env=env)
    try:
        report = json.loads(res.stdout) if res.stdout.strip() else {}
    except ValueError:
        raise AssertionError(f"not JSON: {res.stdout}\n{res.stderr}")
    return res.returncode, report


def statuses(report: dict) -> dict[str, str]:
    return {i["id"]: i["status"] for i in report["items"]}


def blkid(dev: str) -> dict[str, str]:
    out = subprocess.run(["blkid", "-p", "-o", "export", dev], capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def sfdisk(dev: str) -> dict:
    return json.loads(subprocess.run(["sfdisk", "--json", dev], capture_output=True, text=True, check=True).stdout)["partitiontable"]


def mounted_at(path: Path) -> str | None:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        f = line.split()
        if f[4] == str(path):
            return f[f.index("-") + 2]
    return None


def sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
