"""Ignition's blackbox partition cases (tests/positive/partitions/zeros.go), translated to storage v1 and run on
loop disks sized as Ignition's harness sizes them (its CalculateImageSize: the aligned header, every partition
aligned, the backup GPT). Expected tables (sectors, names, type GUIDs, partition GUIDs) are Ignition's."""
import uuid

import pytest

from tests.host.helpers import apply, sfdisk, statuses, write_config

pytestmark = pytest.mark.host

IGNITION_ALIGNMENT, DEFAULT_ALIGNMENT = 2048, 4096  # sectors
GPT_HEADER, HYBRID_HEADER = 34, 63  # sectors
LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
EFI = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
COREOS_RESIZE = "3884DD41-8582-4404-B9A8-E9B84F2DF50E"


def align(n: int, a: int) -> int:
    return n if n % a == 0 else n + a - n % a


def image_bytes(lengths: list[int], alignment: int) -> int:
    sectors = align(HYBRID_HEADER, alignment) + sum(align(n, alignment) for n in lengths)
    return 512 * (sectors + GPT_HEADER - 1)


def disk_of(loops, lengths, alignment, name):
    return loops.add(f"{image_bytes(lengths, alignment)}", name=name)


def parts(dev):
    return [(int(p["node"][len(dev) + 1:]), p["start"], p["size"], p.get("name"), p["type"].upper(),
             p.get("uuid", "").upper()) for p in sfdisk(dev)["partitions"]]


def test_start_and_size_zero_fill_the_disk(loops, tmp_path):
    """partition.create.startsize0"""
    g0, g1 = str(uuid.uuid4()).upper(), str(uuid.uuid4()).upper()
    dev = disk_of(loops, [65536], IGNITION_ALIGNMENT, "d1.img")
    items = [{"id": "d1", "type": "disk", "path": dev, "ptable": "gpt"},
             {"id": "p1", "type": "partition", "device": "d1", "number": 1, "partition_name": "fills-disk",
              "partition_type": g0, "uuid": g1}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0, rep
    assert parts(dev) == [(1, 2048, 65536, "fills-disk", g0, g1)]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep


def test_unnumbered_partitions_are_numbered_in_order(loops, tmp_path):
    """partition.create.numbersize0"""
    g0 = str(uuid.uuid4()).upper()
    guids = [str(uuid.uuid4()).upper() for _ in range(3)]
    dev = disk_of(loops, [65536] * 3, IGNITION_ALIGNMENT, "d1.img")
    items = [{"id": "d1", "type": "disk", "path": dev, "ptable": "gpt"}] + [
        {"id": name, "type": "partition", "device": "d1", "size": "32M", "partition_name": name,
         "partition_type": g0, "uuid": g} for name, g in zip(("uno", "dos", "tres"), guids)]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0, rep
    assert parts(dev) == [(1, 2048, 65536, "uno", g0, guids[0]), (2, 2048 + 65536, 65536, "dos", g0, guids[1]),
                          (3, 2048 + 2 * 65536, 65536, "tres", g0, guids[2])]


def base_disk(loops):
    """Ignition's GetBaseDisk: EFI-SYSTEM (1), OEM (6), ROOT (9), 262144 sectors each, 2 MiB alignment."""
    lengths = [262144] * 3
    dev = disk_of(loops, lengths, DEFAULT_ALIGNMENT, "d0.img")
    import subprocess

    lines = ["label: gpt", "unit: sectors", "first-lba: 34"]
    start = GPT_HEADER
    for (num, name, ptype), n in zip(((1, "EFI-SYSTEM", EFI), (6, "OEM", LINUX), (9, "ROOT", COREOS_RESIZE)),
                                     lengths):
        start = align(start, DEFAULT_ALIGNMENT)
        lines.append(f"{dev}p{num} : start={start}, size={n}, type={ptype}, name={name}")
        start += n
    subprocess.run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", dev], input="\n".join(lines) + "\n",
                   text=True, check=True)
    subprocess.run(["partx", "--add", dev], check=True)
    return dev


def test_root_filling_the_disk_matches_and_nothing_changes(loops, tmp_path):
    """partition.match.rootfillsdisk: ROOT (9) given with start and size 0 is the existing ROOT."""
    dev = base_disk(loops)
    before = parts(dev)
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True},
             {"id": "root", "type": "partition", "device": "d0", "number": 9, "partition_name": "ROOT",
              "partition_type": COREOS_RESIZE, "preserve": True}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep
    assert parts(dev) == before


def test_a_partition_without_number_goes_after_the_kept_ones_whatever_the_order(loops, tmp_path):
    """partition.number0: the new partition is listed first, yet numbered 2 and placed after partition 1."""
    import subprocess

    g0, g1 = str(uuid.uuid4()).upper(), str(uuid.uuid4()).upper()
    dev = disk_of(loops, [65536, 65536], IGNITION_ALIGNMENT, "d1.img")
    subprocess.run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", dev], text=True, check=True,
                   input=f"label: gpt\nstart=2048, size=65536, type={g0}, uuid={g1}, name=foobar\n")
    subprocess.run(["partx", "--add", dev], check=True)
    items = [{"id": "d1", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True},
             {"id": "newpart", "type": "partition", "device": "d1", "size": "32M", "partition_name": "newpart"},
             {"id": "foobar", "type": "partition", "device": "d1", "number": 1, "partition_name": "foobar",
              "preserve": True}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0, rep
    got = parts(dev)
    assert got[0] == (1, 2048, 65536, "foobar", g0, g1)
    assert got[1][:4] == (2, 2048 + 65536, 65536, "newpart")
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep


def test_unspecified_start_and_size_are_do_not_care(loops, tmp_path):
    """partition.match.sizestart.unspecd: ROOT (9) named by number and type only matches whatever its extent."""
    dev = base_disk(loops)
    before = parts(dev)
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True},
             {"id": "root", "type": "partition", "device": "d0", "number": 9, "partition_name": "ROOT",
              "partition_type": COREOS_RESIZE}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep
    assert parts(dev) == before
