"""curtin's resize cases (tests/integration/test_block_meta.py: resize_*, multi_resize, split, split_and_wiping,
partition_unify, mix_of_operations_*), on real loop disks.

Inputs and expected tables and filesystem sizes are curtin's facts; the code is ours. curtin also resizes ntfs
(ntfsresize); blockprov resizes ext2/3/4, xfs (grow) and btrfs, so ``multi_resize`` runs on ext4 here. Cases
where curtin deletes a partition the config does not list end as blockprov's documented refusal, with nothing
written (docs/storage-config.md, "Differences from curtin and Ignition").
"""
import hashlib
import os
import subprocess
import tempfile
from contextlib import contextmanager

import pytest

from tests.conformance.curtin.test_block_meta import Builder, attach, table
from tests.host.helpers import blkid, statuses

pytestmark = pytest.mark.host

MiB = 1 << 20


def node(dev: str, n: int) -> str:
    return f"{dev}p{n}"


@contextmanager
def mounted(path: str, fstype: str | None = None):
    with tempfile.TemporaryDirectory() as mnt:
        subprocess.run(["mount"] + (["-t", fstype] if fstype else []) + [path, mnt], check=True)
        try:
            yield mnt
        finally:
            subprocess.run(["umount", mnt], check=True)


def fs_size(path: str) -> int:
    """The filesystem's own idea of its size, from its own tools (curtin's _get_ext_size, and the same for
    xfs and btrfs)."""
    fstype = blkid(path)["TYPE"]
    if fstype.startswith("ext"):
        out = subprocess.run(["dumpe2fs", "-h", path], capture_output=True, text=True, check=True).stdout
        f = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        return int(f["Block count"]) * int(f["Block size"])
    if fstype == "btrfs":
        out = subprocess.run(["btrfs", "inspect-internal", "dump-super", path], capture_output=True, text=True,
                             check=True).stdout
        return int(next(line.split()[1] for line in out.splitlines() if line.startswith("dev_item.total_bytes")))
    if fstype == "xfs":
        out = subprocess.run(["xfs_db", "-r", "-c", "sb 0", "-c", "print dblocks blocksize", path],
                             capture_output=True, text=True, check=True).stdout
        f = dict(line.split(" = ") for line in out.splitlines())
        return int(f["dblocks"]) * int(f["blocksize"])
    raise AssertionError(fstype)


DATA = os.urandom(1 << 16)


def put_data(path: str) -> None:
    with mounted(path) as mnt, open(f"{mnt}/data.bin", "wb") as f:
        f.write(DATA)


def data_kept(path: str) -> bool:
    with mounted(path) as mnt, open(f"{mnt}/data.bin", "rb") as f:
        return f.read() == DATA


def add_fs(c: Builder, part: dict, fstype: str) -> dict:
    return c.add(type="format", volume=part["id"], fstype=fstype)


def run_ok(c: Builder, tmp_path) -> dict:
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    return rep


def second_run_all_ok(c: Builder, tmp_path) -> None:
    rc, rep = c.run(tmp_path)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep


# curtin asserts ext2/3/4 both ways, 40 <-> 80 MiB (and ntfs); blockprov adds btrfs both ways and xfs growing,
# at sizes their mkfs accepts
@pytest.mark.parametrize("fstype,start,end", [
    (fs, a, b) for fs in ("ext2", "ext3", "ext4") for a, b in ((40, 80), (80, 40))]
    + [("btrfs", 300, 400), ("btrfs", 400, 300), ("xfs", 300, 400)])
def test_resize(loops, tmp_path, fstype, start, end):
    start, end = start * MiB, end * MiB
    dev = attach(loops, "200M" if start < 100 * MiB else "500M")
    c = Builder(2)
    c.add_disk(dev, "gpt")
    p1 = c.add_part(start, offset=f"{MiB}B", number=1)
    add_fs(c, p1, fstype)
    run_ok(c, tmp_path)
    assert blkid(node(dev, 1))["TYPE"] == fstype
    put_data(node(dev, 1))
    assert table(dev) == [(1, MiB, start)]
    assert fs_size(node(dev, 1)) == start

    c.set_preserve()
    p1["resize"] = True
    p1["size"] = f"{end}B"
    rep = run_ok(c, tmp_path)
    assert statuses(rep)["id1"] == "done", rep
    assert table(dev) == [(1, MiB, end)]
    assert fs_size(node(dev, 1)) == end
    assert data_kept(node(dev, 1))
    second_run_all_ok(c, tmp_path)


def test_multi_resize(loops, tmp_path):
    """curtin shrinks one ntfs partition 180 -> 160 -> 140 MiB; here ext4 (blockprov does not resize ntfs)."""
    dev = attach(loops, "200M")
    c = Builder(2)
    c.add_disk(dev, "gpt")
    p1 = c.add_part(180 * MiB, offset=f"{MiB}B", number=1)
    add_fs(c, p1, "ext4")
    run_ok(c, tmp_path)
    put_data(node(dev, 1))
    c.set_preserve()
    p1["resize"] = True
    for size in (160 * MiB, 140 * MiB):
        p1["size"] = f"{size}B"
        run_ok(c, tmp_path)
        assert table(dev) == [(1, MiB, size)]
        assert fs_size(node(dev, 1)) == size
        assert data_kept(node(dev, 1))


def test_resize_logical(loops, tmp_path):
    dev = attach(loops, "100M")
    c = Builder(2)
    c.add_disk(dev, "msdos")
    c.add_part("50M", number=1, flag="extended", offset=f"{MiB}B")
    c.add_part("10M", number=5, flag="logical", offset=f"{2 * MiB}B")
    p6 = c.add_part("10M", number=6, flag="logical", offset=f"{13 * MiB}B")
    add_fs(c, p6, "ext4")
    run_ok(c, tmp_path)
    put_data(node(dev, 6))
    assert table(dev)[1:] == [(5, 2 * MiB, 10 * MiB), (6, 13 * MiB, 10 * MiB)]
    c.set_preserve()
    p6["resize"] = True
    p6["size"] = "20M"
    run_ok(c, tmp_path)
    assert table(dev)[1:] == [(5, 2 * MiB, 10 * MiB), (6, 13 * MiB, 20 * MiB)]
    assert fs_size(node(dev, 6)) == 20 * MiB
    assert data_kept(node(dev, 6))
    second_run_all_ok(c, tmp_path)


def extended_size(dev: str) -> int:
    from tests.host.helpers import sfdisk

    return next(p["size"] * 512 for p in sfdisk(dev)["partitions"] if p["type"] in ("5", "f", "85"))


def test_resize_extended(loops, tmp_path):
    dev = attach(loops, "100M")
    c = Builder(2)
    c.add_disk(dev, "msdos")
    p1 = c.add_part("50M", number=1, flag="extended", offset=f"{MiB}B")
    p5 = c.add_part("49M", number=5, flag="logical", offset=f"{2 * MiB}B")
    run_ok(c, tmp_path)
    assert extended_size(dev) == 50 * MiB and table(dev)[1:] == [(5, 2 * MiB, 49 * MiB)]
    c.set_preserve()
    p1.update(resize=True, size="99M")
    p5.update(resize=True, size="98M")
    run_ok(c, tmp_path)
    assert extended_size(dev) == 99 * MiB and table(dev)[1:] == [(5, 2 * MiB, 98 * MiB)]
    second_run_all_ok(c, tmp_path)


def test_a_logical_cannot_outgrow_its_extended_partition_and_nothing_is_written(loops, tmp_path):
    dev = attach(loops, "100M")
    c = Builder(2)
    c.add_disk(dev, "msdos")
    c.add_part("50M", number=1, flag="extended", offset=f"{MiB}B")
    p5 = c.add_part("49M", number=5, flag="logical", offset=f"{2 * MiB}B")
    run_ok(c, tmp_path)
    before = table(dev)
    c.set_preserve()
    p5.update(resize=True, size="98M")
    rc, rep = c.run(tmp_path)
    assert rc == 1 and statuses(rep)["id0"] == "error" and statuses(rep)["id2"] == "blocked", rep
    assert "partition id2 does not fit" in next(i["reason"] for i in rep["items"] if i["id"] == "id0")
    assert table(dev) == before and extended_size(dev) == 50 * MiB


@pytest.mark.parametrize("new_first", [False, True], ids=["curtin-order", "new-partition-listed-first"])
def test_split(loops, tmp_path, new_first):
    dev = attach(loops, "200M")
    c = Builder(2)
    c.add_disk(dev, "gpt")
    c.add_part(9 * MiB, offset=f"{MiB}B", number=1)
    p2 = c.add_part("180M", offset=f"{10 * MiB}B", number=2)
    add_fs(c, p2, "ext4")
    run_ok(c, tmp_path)
    put_data(node(dev, 2))
    assert table(dev) == [(1, MiB, 9 * MiB), (2, 10 * MiB, 180 * MiB)]
    assert fs_size(node(dev, 2)) == 180 * MiB
    c.set_preserve()
    p2.update(resize=True, size="80M")
    p3 = c.add_part("100M", offset=f"{90 * MiB}B", number=3)
    add_fs(c, p3, "ext4")
    if new_first:  # the shrink still runs before the new partition is added
        c.config = [c.config[0], p3, c.config[-1]] + c.config[1:-2]
    run_ok(c, tmp_path)
    assert table(dev) == [(1, MiB, 9 * MiB), (2, 10 * MiB, 80 * MiB), (3, 90 * MiB, 100 * MiB)]
    assert fs_size(node(dev, 2)) == 80 * MiB and fs_size(node(dev, 3)) == 100 * MiB
    assert data_kept(node(dev, 2))
    second_run_all_ok(c, tmp_path)


def test_split_and_wiping(loops, tmp_path):
    """curtin's regression: a wipe must never happen before the resize; files spread over the partition stay."""
    dev = attach(loops, "100M")
    c = Builder(2)
    c.add_disk(dev, "gpt")
    p1 = c.add_part(98 * MiB, offset=f"{MiB}B", number=1)
    add_fs(c, p1, "ext4")
    run_ok(c, tmp_path)
    with mounted(node(dev, 1)) as mnt:
        for i in range(1, 41):
            with open(f"{mnt}/{i}", "wb") as f:
                f.write(bytes([i]) * (2 * MiB))
        for i in range(1, 41):
            if i % 5:
                os.remove(f"{mnt}/{i}")
    c2 = Builder(2)
    c2.add_disk(dev, "gpt")
    p1 = c2.add_part(49 * MiB, offset=f"{MiB}B", number=1, resize=True)
    add_fs(c2, p1, "ext4")
    c2.set_preserve()
    p2 = c2.add_part(49 * MiB, offset=f"{50 * MiB}B", number=2)
    add_fs(c2, p2, "ext4")
    run_ok(c2, tmp_path)
    assert table(dev) == [(1, MiB, 49 * MiB), (2, 50 * MiB, 49 * MiB)]
    with mounted(node(dev, 1)) as mnt:
        for i in range(5, 41, 5):
            with open(f"{mnt}/{i}", "rb") as f:
                assert f.read() == bytes([i]) * (2 * MiB)


def digest(dev: str) -> str:
    with open(dev, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_partition_unify_is_a_deliberate_difference(loops, tmp_path):
    """curtin deletes partition 3 (not in the second config) and grows 2 over it; blockprov never deletes a
    partition the config does not name: the grow would overlap it, so it is refused and nothing is written."""
    dev = attach(loops, "200M")
    c = Builder(2)
    c.add_disk(dev, "gpt")
    c.add_part(9 * MiB, offset=f"{MiB}B", number=1)
    p2 = c.add_part("40M", offset=f"{10 * MiB}B", number=2)
    add_fs(c, p2, "ext4")
    p3 = c.add_part("60M", offset=f"{50 * MiB}B", number=3)
    add_fs(c, p3, "ext4")
    run_ok(c, tmp_path)
    put_data(node(dev, 2))
    before = digest(dev)
    c2 = Builder(2)
    c2.add_disk(dev, "gpt")
    c2.add_part(9 * MiB, offset=f"{MiB}B", number=1)
    p2 = c2.add_part("100M", offset=f"{10 * MiB}B", number=2, resize=True)
    add_fs(c2, p2, "ext4")
    c2.set_preserve()
    rc, rep = c2.run(tmp_path)
    assert rc == 1 and statuses(rep)["id2"] == "refused", rep
    assert "overlap partition 3" in next(i["reason"] for i in rep["items"] if i["id"] == "id2")
    assert digest(dev) == before


@pytest.mark.parametrize("ptable", ["gpt", "msdos"])
def test_mix_of_operations_is_a_deliberate_difference(loops, tmp_path, ptable):
    """curtin keeps 1, grows 2 and re-creates 3 (msdos: 6) elsewhere, deleting the old one; blockprov does not
    replace a partition the config does not authorise (no wipe, not preserved): it is refused, and so is the grow
    that would overlap it; every partition keeps its place and data. (msdos: the extended partition's grow is
    independent of both and is carried out: partial apply.)"""
    dev = attach(loops, "200M")
    c = Builder(2)
    c.add_disk(dev, ptable)
    c.add_part(9 * MiB, offset=f"{MiB}B", number=1)
    if ptable == "gpt":
        p2 = c.add_part("90M", offset=f"{10 * MiB}B", number=2)
        add_fs(c, p2, "ext4")
        add_fs(c, c.add_part("99M", offset=f"{100 * MiB}B", number=3), "ext4")
    else:
        c.add_part("89M", offset=f"{10 * MiB}B", number=2, flag="extended")
        p2 = c.add_part("36M", offset=f"{11 * MiB}B", number=5, flag="logical")
        add_fs(c, p2, "ext4")
        add_fs(c, c.add_part("50M", offset=f"{49 * MiB}B", number=6, flag="logical"), "ext4")
    run_ok(c, tmp_path)
    put_data(node(dev, p2["number"]))
    c2 = Builder(2)
    c2.add_disk(dev, ptable)
    c2.add_part(9 * MiB, offset=f"{MiB}B", number=1)
    if ptable == "gpt":
        add_fs(c2, c2.add_part("139M", offset=f"{10 * MiB}B", number=2, resize=True), "ext4")
        c2.set_preserve()
        add_fs(c2, c2.add_part("50M", offset=f"{149 * MiB}B", number=3), "ext4")
    else:
        c2.add_part("189M", offset=f"{10 * MiB}B", number=2, flag="extended", resize=True)
        add_fs(c2, c2.add_part("136M", offset=f"{11 * MiB}B", number=5, flag="logical", resize=True), "ext4")
        c2.set_preserve()
        add_fs(c2, c2.add_part("50M", offset=f"{149 * MiB}B", number=6, flag="logical"), "ext4")
    before = [p for p in table(dev) if p[0] != 2 or ptable == "gpt"]
    rc, rep = c2.run(tmp_path)
    assert rc == 1, rep
    st = statuses(rep)
    grown, moved = ("id2", "id4") if ptable == "gpt" else ("id3", "id5")
    assert st[grown] == "refused" and st[moved] == "refused", rep
    assert "does not authorise replacing it" in next(i["reason"] for i in rep["items"] if i["id"] == moved)
    assert [p for p in table(dev) if p[0] != 2 or ptable == "gpt"] == before
    if ptable == "msdos":
        assert st["id2"] == "done" and extended_size(dev) == 189 * MiB
    assert data_kept(node(dev, p2["number"]))


@pytest.mark.parametrize("fstype", ["ext4", "xfs", "btrfs"])
def test_a_mounted_filesystem_grows_online(loops, tmp_path, fstype):
    """Where the process lacks CAP_SYS_RESOURCE (containers), ext4 cannot grow online: the step fails before
    anything is written and says why."""
    from blockprov.storage.execute_resize import may_resize_online

    online = fstype != "ext4" or may_resize_online()
    dev = attach(loops, "700M")
    c = Builder(2)
    c.add_disk(dev, "gpt")
    p1 = c.add_part(320 * MiB, offset=f"{MiB}B", number=1)
    add_fs(c, p1, fstype)
    run_ok(c, tmp_path)
    with mounted(node(dev, 1)) as mnt:
        with open(f"{mnt}/data.bin", "wb") as f:
            f.write(DATA)
        c.set_preserve()
        p1.update(resize=True, size="600M")
        if not online:
            rc, rep = c.run(tmp_path)
            assert rc == 1 and statuses(rep)["id1"] == "failed", rep
            assert "CAP_SYS_RESOURCE" in next(i["reason"] for i in rep["items"] if i["id"] == "id1")
            assert table(dev) == [(1, MiB, 320 * MiB)]
            return
        run_ok(c, tmp_path)
        assert table(dev) == [(1, MiB, 600 * MiB)]
        st = os.statvfs(mnt)
        assert st.f_blocks * st.f_frsize > 500 * MiB  # df sees the new size while mounted
        with open(f"{mnt}/data.bin", "rb") as f:
            assert f.read() == DATA


@pytest.mark.parametrize("case", ["xfs-shrink", "mounted-ext4-shrink"])
def test_a_shrink_the_filesystem_cannot_follow_is_refused_and_nothing_is_written(loops, tmp_path, case):
    fstype = "xfs" if case.startswith("xfs") else "ext4"
    dev = attach(loops, "500M")
    c = Builder(2)
    c.add_disk(dev, "gpt")
    p1 = c.add_part(400 * MiB, offset=f"{MiB}B", number=1)
    add_fs(c, p1, fstype)
    run_ok(c, tmp_path)
    c.set_preserve()
    p1.update(resize=True, size="350M")
    if case == "xfs-shrink":
        before = digest(dev)
        rc, rep = c.run(tmp_path)
        assert digest(dev) == before
        want = "xfs cannot shrink"
    else:
        with mounted(node(dev, 1)):
            before = table(dev)
            rc, rep = c.run(tmp_path)
            assert table(dev) == before
        want = "needs it unmounted"
    assert rc == 1 and statuses(rep)["id1"] == "refused", rep
    assert want in next(i["reason"] for i in rep["items"] if i["id"] == "id1")
