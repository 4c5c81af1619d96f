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


def base_disk(loops, name: str = "d0.img", extra_sectors: int = 0, ext4: bool = False):
    """Ignition's GetBaseDisk: EFI-SYSTEM (1), OEM (6), ROOT (9), 262144 sectors each, 2 MiB alignment;
    ``extra_sectors`` of room after ROOT for the cases that grow it; ``ext4`` on OEM and ROOT as Ignition has."""
    import subprocess

    lengths = [262144] * 3
    dev = loops.add(str(image_bytes(lengths, DEFAULT_ALIGNMENT) + extra_sectors * 512), name=name)

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
    if ext4:
        for n in (6, 9):
            subprocess.run(["mkfs.ext4", "-q", "-L", {6: "OEM", 9: "ROOT"}[n], f"{dev}p{n}"], check=True)
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


def image_sha(loops, dev) -> str:
    import hashlib

    return hashlib.sha256(loops.image(dev).read_bytes()).hexdigest()


@pytest.mark.parametrize("case,config", [
    ("partition.match.fail", [{"number": 9, "size": "2M"}]),
    ("partition.partialmatch.fail", [{"number": 1}, {"number": 9, "size": "2M"}]),
    ("partition.resizePartition.mismatch.config",
     [{"number": 9, "partition_name": "ROOT", "size": "6352M", "offset": "100M", "resize": True}]),
])
def test_negative_a_partition_that_does_not_match_fails_and_nothing_is_written(loops, tmp_path, case, config):
    """Ignition's tests/negative/partitions/simple.go: an existing partition the config describes otherwise,
    without leave to replace it, fails the run; nothing on the disk changes."""
    dev = base_disk(loops, "neg.img", ext4=True)
    before = image_sha(loops, dev)
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True}] + [
        {"id": f"p{i}", "type": "partition", "device": "d0", **c} for i, c in enumerate(config)]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items, 2), tmp_path / "r")
    assert rc == 1 and set(statuses(rep).values()) & {"refused", "conflict", "error", "blocked"}, rep
    assert image_sha(loops, dev) == before


@pytest.mark.parametrize("case", ["partition.resizeExistingPartition", "partition.resizeroot"])
def test_resize_root(loops, tmp_path, case):
    """ROOT (9) grows to 6352 MiB: Ignition's expected length 12943360 + 65536 sectors, start unchanged, its ext4
    kept. Ignition's resizeroot re-creates the entry (wipePartitionEntry, which keeps the data); in storage v1 that
    is ``resize: true`` either way (v1's ``wipe`` erases contents)."""
    import subprocess

    dev = base_disk(loops, "root.img", extra_sectors=12943360 + 65536, ext4=True)
    uuid_before = subprocess.run(["blkid", "-p", "-o", "value", "-s", "UUID", dev + "p9"], capture_output=True,
                                 text=True).stdout.strip()
    p9 = {"id": "root", "type": "partition", "device": "d0", "number": 9, "partition_name": "ROOT",
          "size": "6352M", "resize": True, "preserve": True}
    if case == "partition.resizeroot":
        p9.update(partition_type=COREOS_RESIZE)
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True}, p9,
             {"id": "rootfs", "type": "format", "volume": "root", "fstype": "ext4", "preserve": True}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items, 2), tmp_path / "r")
    assert rc == 0, rep
    got = {n: (start, size, name) for n, start, size, name, _t, _g in parts(dev)}
    assert got == {1: (4096, 262144, "EFI-SYSTEM"), 6: (266240, 262144, "OEM"),
                   9: (528384, 12943360 + 65536, "ROOT")}
    assert subprocess.run(["blkid", "-p", "-o", "value", "-s", "UUID", dev + "p9"], capture_output=True,
                          text=True).stdout.strip() == uuid_before
    out = subprocess.run(["dumpe2fs", "-h", dev + "p9"], capture_output=True, text=True).stdout
    f = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    assert int(f["Block count"]) * int(f["Block size"]) == 6352 << 20
    rc, rep = apply(write_config(tmp_path / "c.yaml", items, 2), tmp_path / "r")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep


def test_no_op(loops, tmp_path):
    """partition.no-op: a disk named with nothing asked of it is left exactly as it is."""
    dev = base_disk(loops, "noop.img", ext4=True)
    before = image_sha(loops, dev)
    items = [{"id": "d0", "type": "disk", "path": dev}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0 and statuses(rep) == {"d0": "ok"}, rep
    assert image_sha(loops, dev) == before


def test_deletion_is_a_deliberate_difference_and_wipe_is_the_way_to_empty_a_disk(loops, tmp_path):
    """partition.delete(.all): storage v1 has no "this partition shall not exist"; a kept table's partitions the
    config does not list are kept (nothing written). Ignition's delete.all outcome, an empty table, is asked for
    in v1 with ``wipe`` on a disk that is not preserved."""
    dev = base_disk(loops, "del.img", ext4=True)
    before = image_sha(loops, dev)
    keep = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True}]
    rc, rep = apply(write_config(tmp_path / "k.yaml", keep, 2), tmp_path / "r")
    assert rc == 0 and image_sha(loops, dev) == before, rep
    empty = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "wipe": "superblock"}]
    rc, rep = apply(write_config(tmp_path / "e.yaml", empty, 2), tmp_path / "r")
    assert rc == 0, rep
    assert sfdisk(dev)["label"] == "gpt" and sfdisk(dev).get("partitions", []) == []


@pytest.mark.parametrize("wipe", [True, False])
def test_wipe_a_bad_table(loops, tmp_path, wipe):
    """partition.wipebadtable: the primary GPT header is damaged (the backup survives). With wipe (Ignition's
    wipeTable) the disk gets a fresh empty table; without it the disk is not blank and is refused, unwritten."""
    import subprocess

    dev = disk_of(loops, [65536], IGNITION_ALIGNMENT, f"bad{wipe}.img")
    subprocess.run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", dev], check=True, text=True,
                   input="label: gpt\nstart=2048, size=65536, name=deleteme\n")
    with open(dev, "r+b") as f:  # corrupt the primary header (LBA 1): its signature and CRC no longer hold
        f.seek(512)
        f.write(b"\0" * 92)
    before = image_sha(loops, dev)
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", **({"wipe": "superblock"} if wipe else {})}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items, 2), tmp_path / "r")
    if wipe:
        assert rc == 0, rep
        assert sfdisk(dev)["label"] == "gpt" and sfdisk(dev).get("partitions", []) == []
        rc, rep = apply(write_config(tmp_path / "c.yaml", items, 2), tmp_path / "r")
        assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep
    else:
        assert rc == 1 and statuses(rep)["d0"] == "refused", rep
        assert image_sha(loops, dev) == before


def test_create_with_wipe_table(loops, tmp_path):
    """partition.create.wipetable: the same two partitions, made again with the config's GUIDs."""
    import subprocess

    t1, t2 = "B921B045-1DF0-41C3-AF44-4C6F280D3FAE", "CA7D7CCB-63ED-4C53-861C-1742536059CC"
    g1, g2 = "8A7A6E26-5E8F-4CCA-A654-46215D4696AC", "A51034E6-26B3-48DF-BEED-220562AC7AD1"
    dev = disk_of(loops, [65536, 131072], IGNITION_ALIGNMENT, "wt.img")
    subprocess.run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", dev], check=True, text=True, input=(
        "label: gpt\n"
        f"start=2048, size=65536, type={t1}, uuid={t1}, name=important-data\n"
        f"start=67584, size=131072, type={t2}, uuid={t1}, name=ephemeral-data\n"))
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "wipe": "superblock"},
             {"id": "p1", "type": "partition", "device": "d0", "number": 1, "size": "32M",
              "partition_name": "important-data", "partition_type": t1, "uuid": g1},
             {"id": "p2", "type": "partition", "device": "d0", "number": 2, "size": "64M",
              "partition_name": "ephemeral-data", "partition_type": t2, "uuid": g2}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items, 2), tmp_path / "r")
    assert rc == 0, rep
    assert parts(dev) == [(1, 2048, 65536, "important-data", t1, g1), (2, 67584, 131072, "ephemeral-data", t2, g2)]


def test_match_recreate_add(loops, tmp_path):
    """partition.match.recreate.delete.add, without its deletion (storage v1 cannot ask for one): 1 matches and
    stays, 2 is re-created twice as large (its ``wipe`` authorises replacing it, as wipePartitionEntry does), 4 is
    added. Ignition's expected table: 1 at 2048 (65536), 2 at 67584 (131072), 4 at 198656 (65536)."""
    import subprocess

    t0, t2 = str(uuid.uuid4()).upper(), str(uuid.uuid4()).upper()
    g1, g0 = str(uuid.uuid4()).upper(), str(uuid.uuid4()).upper()
    dev = disk_of(loops, [65536, 131072, 131072, 65536], IGNITION_ALIGNMENT, "mixed.img")
    subprocess.run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", dev], check=True, text=True, input=(
        "label: gpt\n"
        f"start=2048, size=65536, type={t0}, uuid={g1}, name=important-data\n"
        f"start=67584, size=65536, type={t2}, uuid={g0}, name=ephemeral-data\n"))
    subprocess.run(["partx", "--add", dev], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-L", "old", dev + "p2"], check=True)
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True},
             {"id": "p1", "type": "partition", "device": "d0", "number": 1, "partition_name": "important-data",
              "offset": "1M", "size": "32M"},
             {"id": "p2", "type": "partition", "device": "d0", "number": 2, "partition_name": "ephemeral-data",
              "offset": "33M", "size": "64M", "wipe": "superblock"},
             {"id": "p4", "type": "partition", "device": "d0", "number": 4, "partition_name": "even-more-data",
              "offset": "97M", "size": "32M"}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items, 2), tmp_path / "r")
    assert rc == 0 and statuses(rep) == {"d0": "ok", "p1": "ok", "p2": "done", "p4": "done"}, rep
    got = [(n, start, size, name) for n, start, size, name, _t, _g in parts(dev)]
    assert got == [(1, 2048, 65536, "important-data"), (2, 67584, 131072, "ephemeral-data"),
                   (4, 198656, 65536, "even-more-data")]
    assert parts(dev)[0][5] == g1  # the kept partition's GUID is untouched
    assert "TYPE" not in blkid_p(dev + "p2")  # the old ext4 went with the old entry
    rc, rep = apply(write_config(tmp_path / "c.yaml", items, 2), tmp_path / "r")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep


def blkid_p(path):
    from tests.host.helpers import blkid

    return blkid(path)
