"""Class A curtin corpus configs applied to loop disks (serial/wwn/path rewritten to the loop path)."""
import copy
import re
import subprocess

import pytest

from blockprov.storage import loader
from tests.conftest import CORPUS
from tests.host.helpers import apply, blkid, statuses, write_config

pytestmark = pytest.mark.host
CLASS_A = re.findall(r"^\| (\S+\.yaml) \| A:plain \|", (CORPUS / "INDEX.md").read_text(), re.M)


def on_loops(items, loops):
    out = copy.deepcopy(items)
    vfat = {it["id"] for it in out if it["type"] == "format" and it["fstype"] in ("vfat", "fat32", "fat16")}
    out = [it for it in out if not (it["type"] == "mount" and it.get("device") in vfat)]  # not mountable here
    for it in out:
        if it["type"] == "disk":
            for k in ("serial", "wwn", "path", "multipath"):
                it.pop(k, None)
            it["path"] = loops.add("16G", name=f"{it['id']}.img")
    return out


def test_class_a_list_is_complete():
    assert len(CLASS_A) == 9


@pytest.mark.parametrize("name", CLASS_A)
def test_class_a_config_applies_and_reruns(loops, tmp_path, name):
    storage = loader.load_file(CORPUS / name).storage
    items = on_loops(storage["config"], loops)
    root = tmp_path / "root"
    if any(it.get("preserve") for it in items):
        # These configs describe disks that already hold the preserved parts: make them first.
        prep = [{k: v for k, v in it.items() if k != "preserve"} for it in items]
        for it in prep:
            if it["type"] == "disk":
                it["wipe"] = "superblock"
        rc, rep = apply(write_config(tmp_path / "prep.yaml", prep, storage.get("version", 1)), tmp_path / "prep")
        assert rc == 0, rep
        subprocess.run(["umount", "-R", str(tmp_path / "prep")], capture_output=True)
    cfg = write_config(tmp_path / "c.yaml", items, storage.get("version", 1))
    rc, rep = apply(cfg, root)
    assert rc == 0, [(i["id"], i["status"], i["reason"]) for i in rep["items"] if i["status"] not in ("ok", "done")]
    for it in items:
        if it["type"] == "format" and it["fstype"] != "swap":
            dev = next(i["device"] for i in rep["items"] if i["id"] == it["id"])
            assert blkid(dev)["TYPE"] == {"fat32": "vfat"}.get(it["fstype"], it["fstype"])
    rc, rep = apply(cfg, root)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}
