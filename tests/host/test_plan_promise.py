"""The plan is a promise (issue 19), as a property on real loop disks: for generated layouts (gpt and msdos,
partitions preserved from an earlier table and new ones, sizes up to the disk's end, numbering with gaps),
a plan with no error is carried out without a failed step, the table is the planned one, and the second run
is all `ok`. A plan with an error writes nothing."""
import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.host.helpers import sha, sfdisk, write_config

pytestmark = pytest.mark.host

import itertools

_SEQ = itertools.count()
MiB = 1 << 20
DISK_MIB = 64


@st.composite
def layouts(draw):
    ptable = draw(st.sampled_from(["gpt", "msdos"]))
    n = draw(st.integers(1, 5))
    sizes = [draw(st.sampled_from(["4M", "8M", "10%", "25%", "100%", None, f"{DISK_MIB - 2}M", f"{DISK_MIB}M"]))
             for _ in range(n)]
    numbers = draw(st.one_of(st.none(), st.permutations(range(1, n + 1)),
                             st.lists(st.integers(1, 6), min_size=n, max_size=n, unique=True)))
    keep = draw(st.integers(0, n))  # the first `keep` partitions come from an earlier table and are preserved
    version = draw(st.sampled_from([1, 2]))
    # kept partitions given `resize: true` and a new size (None: not resized)
    resize = draw(st.lists(st.sampled_from([None, None, "6M", "12M", "20M", "50%", f"{DISK_MIB - 2}M"]),
                           min_size=n, max_size=n))
    return ptable, sizes, numbers, keep, version, resize


def run(cmd, cfg, root, *extra):
    res = subprocess.run([sys.executable, "-m", "blockprov", "storage", cmd, str(cfg), *extra, "--json"],
                         capture_output=True, text=True)
    return res.returncode, json.loads(res.stdout) if res.stdout.strip() else {}


@settings(max_examples=int(__import__("os").environ.get("BLOCKPROV_PROMISE_EXAMPLES", "12")), deadline=None, suppress_health_check=list(HealthCheck))
@given(layouts())
def test_a_clean_plan_is_carried_out_and_rerun_is_ok(loops, tmp_path, layout):
    ptable, sizes, numbers, keep, version, resize = layout
    tag = next(_SEQ)  # a new image file for every example, even a repeated one
    dev = loops.add(f"{DISK_MIB}M", name=f"p{tag}.img")
    root = tmp_path / f"r{tag}"
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": ptable}]
    for i, size in enumerate(sizes):
        p = {"id": f"p{i}", "type": "partition", "device": "d0"}
        if size:
            p["size"] = size
        if numbers:
            p["number"] = numbers[i]
        items.append(p)
    if keep:
        # an earlier run made the first `keep` partitions; now they are preserved and the rest is added
        first = write_config(tmp_path / f"a{tag}.yaml", items[:keep + 1], version)
        rc, rep = run("apply", first, root, "--root", str(root))
        if rc != 0:
            return  # that layout alone is not valid for this disk: nothing to build on
        items[0]["preserve"] = True
        for p, new in zip(items[1:keep + 1], resize):
            p["preserve"] = True
            if new:
                p.update(resize=True, size=new)
    cfg = write_config(tmp_path / f"c{tag}.yaml", items, version)
    before = sha(loops.image(dev))
    rc, plan = run("plan", cfg, root, "--root", str(root))
    statuses = {i["status"] for i in plan.get("items", [])}
    event(f"plan {'/'.join(sorted(statuses))}" + (" with resize" if any(s["op"] == "part-resize" for s in plan.get("steps", [])) else ""))
    if rc == 2:
        return  # invalid config: nothing to promise
    if statuses & {"error", "refused", "conflict", "blocked", "unsupported"}:
        disk_refused = plan["items"][0]["status"] not in ("ok", "create")
        rc, rep = run("apply", cfg, root, "--root", str(root))
        assert rc == 1 and not [i for i in rep["items"] if i["status"] == "failed"], rep
        if disk_refused or not [s for s in plan["steps"] if s["op"] != "fstab"]:
            assert sha(loops.image(dev)) == before, rep  # a plan that says no writes nothing
        return
    rc, rep = run("apply", cfg, root, "--root", str(root))
    assert rc == 0 and not [i for i in rep["items"] if i["status"] == "failed"], rep
    got = sorted((int(p["node"][len(dev) + 1:]), p["start"] * 512, p["size"] * 512) for p in sfdisk(dev)["partitions"])
    planned = []
    for s in plan["steps"]:
        for slot in s["args"].get("partitions", []) + ([s["args"]["partition"]] if "partition" in s["args"] else []):
            planned.append((slot["number"], slot["start"], slot["size"]))
        if s["op"] == "part-resize":
            planned.append((s["args"]["number"], s["args"]["start"], s["args"]["size"]))
    for slot in planned:
        assert slot in got, (slot, got)
    rc, rep = run("apply", cfg, root, "--root", str(root))
    assert rc == 0 and {i["status"] for i in rep["items"]} == {"ok"}, rep
