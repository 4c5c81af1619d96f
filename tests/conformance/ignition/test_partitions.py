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


@pytest.mark.parametrize("preserve", [True, False])
def test_every_partition_given_exactly_matches_and_nothing_changes(loops, tmp_path, preserve):
    """partition.match.all: the base disk's three partitions given with number, start, size, name and type.
    Ignition matches them (it creates only what is missing); in storage v1 that is a preserved disk whose
    partitions are preserved (verified) or, not preserved, found exactly as described (kept). Their GUIDs show
    that nothing was re-created."""
    dev = base_disk(loops)
    before = parts(dev)
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True}]
    for num, name, ptype, start in ((1, "EFI-SYSTEM", EFI, 2), (6, "OEM", LINUX, 130),
                                    (9, "ROOT", COREOS_RESIZE, 258)):
        items.append({"id": name.lower(), "type": "partition", "device": "d0", "number": num,
                      "offset": f"{start}M", "size": "128M", "partition_name": name, "partition_type": ptype,
                      **({"preserve": True} if preserve else {})})
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep
    assert parts(dev) == before


@pytest.mark.parametrize("start", [None, "1M"])
def test_create_one_partition(loops, tmp_path, start):
    """partition.create and partition.create.withstartmib"""
    tg, g = "B921B045-1DF0-41C3-AF44-4C6F280D3FAE", "05AE8178-224E-4744-862A-4F4B042662D0"
    dev = disk_of(loops, [65536], IGNITION_ALIGNMENT, "d1.img")
    p = {"id": "p1", "type": "partition", "device": "d1", "number": 1, "size": "32M",
         "partition_name": "create-partition", "partition_type": tg, "uuid": g}
    if start:
        p["offset"] = start
    rc, rep = apply(write_config(tmp_path / "c.yaml", [{"id": "d1", "type": "disk", "path": dev, "ptable": "gpt"}, p]),
                    tmp_path / "r")
    assert rc == 0, rep
    assert parts(dev) == [(1, 2048, 65536, "create-partition", tg, g)]


def test_append_partitions_to_a_kept_table(loops, tmp_path):
    """partition.append: two partitions added after the two a disk has, whose GUIDs stay as they were."""
    import subprocess

    t1, t2, t3 = ("B921B045-1DF0-41C3-AF44-4C6F280D3FAE", "CA7D7CCB-63ED-4C53-861C-1742536059CC",
                  "F39C522B-9966-4429-A8F8-417CD5D83E5E")
    g1, g2 = "8A7A6E26-5E8F-4CCA-A654-46215D4696AC", "B921B045-1DF0-41C3-AF44-4C6F280D3FAE"
    g3, g4 = "3ED3993F-0016-422B-B134-09FCBA6F66EF", "ACCEDD09-76C2-4363-9893-F5689A78C47F"
    dev = disk_of(loops, [65536, 131072, 65536, 65536], IGNITION_ALIGNMENT, "d1.img")
    subprocess.run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", dev], check=True, text=True, input=(
        "label: gpt\n"
        f"start=2048, size=65536, type={t1}, uuid={g1}, name=important-data\n"
        f"start=67584, size=131072, type={t2}, uuid={g2}, name=ephemeral-data\n"))
    subprocess.run(["partx", "--add", dev], check=True)
    items = [{"id": "d1", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True},
             {"id": "a1", "type": "partition", "device": "d1", "number": 3, "size": "32M",
              "partition_name": "additional-partition", "partition_type": t3, "uuid": g3},
             {"id": "a2", "type": "partition", "device": "d1", "number": 4, "size": "32M",
              "partition_name": "additional-partition2", "partition_type": t3, "uuid": g4.lower()}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0, rep
    assert parts(dev) == [(1, 2048, 65536, "important-data", t1, g1), (2, 67584, 131072, "ephemeral-data", t2, g2),
                          (3, 198656, 65536, "additional-partition", t3, g3),
                          (4, 264192, 65536, "additional-partition2", t3, g4)]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep
