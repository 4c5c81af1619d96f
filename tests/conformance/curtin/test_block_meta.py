"""curtin's partitioning integration cases (tests/integration/test_block_meta.py), on real loop disks.

Inputs and expected tables are curtin's (its ``PartData`` facts: number, offset, size); the code is ours.
Where blockprov deliberately differs (it never deletes or replaces a partition the config does not
authorise), the case asserts blockprov's documented behaviour instead and names the difference
(docs/storage-config.md, "Differences from curtin and Ignition").
"""
import subprocess

import pytest

from tests.host.helpers import apply, sfdisk, statuses, write_config

pytestmark = pytest.mark.host

MiB = 1 << 20


def table(dev: str) -> list[tuple[int, int, int]]:
    """(number, offset bytes, size bytes) per partition, as sfdisk reads the disk (curtin's summarize_partitions)."""
    pt = sfdisk(dev)
    sector = pt.get("sectorsize", 512)
    out = []
    for p in pt["partitions"]:
        num = int(p["node"][len(dev) + 1:])
        out.append((num, p["start"] * sector, p["size"] * sector))
    return sorted(out)


class Builder:
    """curtin's StorageConfigBuilder, writing storage v1/v2 with ids id0, id1, ... as curtin's does."""

    def __init__(self, version: int):
        self.version, self.config, self.disk = version, [], None

    def add(self, **kw) -> dict:
        action = {"id": f"id{len(self.config)}", **kw}
        self.config.append(action)
        return action

    def add_disk(self, path: str, ptable: str, **kw) -> dict:
        self.disk = self.add(type="disk", path=path, ptable=ptable, **kw)
        return self.disk

    def add_part(self, size, **kw) -> dict:
        return self.add(type="partition", device=self.disk["id"], size=size if isinstance(size, str) else f"{size}B",
                        **kw)

    def set_preserve(self) -> None:
        for action in self.config:
            action["preserve"] = True

    def run(self, tmp_path, root="r"):
        rc, rep = apply(write_config(tmp_path / "c.yaml", self.config, self.version), tmp_path / root)
        return rc, rep


def attach(loops, size: str, sector: int = 512) -> str:
    if sector == 512:
        return loops.add(size)
    dev = loops.add(size)
    subprocess.run(["losetup", "--sector-size", str(sector), dev], check=True)
    return dev


@pytest.mark.parametrize("ptable", ["gpt", "msdos"])
@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("sector", [512, 4096])
def test_default_offsets(loops, tmp_path, ptable, version, sector):
    psize = 40 << 20
    dev = attach(loops, "200M", sector)
    c = Builder(version)
    c.add_disk(dev, ptable)
    parts = [c.add_part(psize, number=n) for n in (1, 2, 3)]
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert table(dev) == [(1, MiB, psize), (2, MiB + psize, psize), (3, MiB + 2 * psize, psize)]
    for p, off in zip(parts, (MiB, MiB + psize, MiB + 2 * psize)):
        p["offset"] = f"{off}B"
    c.set_preserve()
    rc, rep = c.run(tmp_path)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep


@pytest.mark.parametrize("ptable", ["gpt", "msdos"])
def test_specified_offsets_v2(loops, tmp_path, ptable):
    psize = 20 << 20
    dev = attach(loops, "100M")
    c = Builder(2)
    c.add_disk(dev, ptable)
    c.add_part(psize, number=1, offset=f"{psize}B")
    c.add_part(psize, number=2, offset=f"{psize * 3}B")
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert table(dev) == [(1, psize, psize), (2, psize * 3, psize)]
    c.set_preserve()
    rc, rep = c.run(tmp_path)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep


def test_minimum_gpt_offset_v2(loops, tmp_path):
    psize, offset = 20 << 20, 34 * 512
    dev = attach(loops, "100M")
    c = Builder(2)
    c.add_disk(dev, "gpt")
    c.add_part(psize, number=1, offset=f"{offset}B")
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert table(dev) == [(1, offset, psize)]
    c.set_preserve()
    rc, rep = c.run(tmp_path)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep


@pytest.mark.parametrize("ptable,version", [("gpt", 1), ("gpt", 2), ("msdos", 2), ("msdos", 1)])
def test_non_default_numbering(loops, tmp_path, ptable, version):
    """curtin marks msdos v1 BROKEN; blockprov makes it as well."""
    psize = 40 << 20
    dev = attach(loops, "100M")
    c = Builder(version)
    c.add_disk(dev, ptable)
    c.add_part(psize, number=1)
    c.add_part(psize, number=4)
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert table(dev) == [(1, MiB, psize), (4, MiB + psize, psize)]


@pytest.mark.parametrize("version", [1, 2])
def test_logical(loops, tmp_path, version):
    dev = attach(loops, "100M")
    c = Builder(version)
    c.add_disk(dev, "msdos")
    # curtin adds 1 MiB to the size of the extended partition per contained logical partition, in v1 only
    c.add_part("97M" if version == 1 else "99M", number=1, flag="extended", wipe="superblock")
    c.add_part("10M", number=5, flag="logical")
    c.add_part("10M", number=6, flag="logical")
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    got = table(dev)
    assert got[0][:2] == (1, MiB)  # sfdisk reports an extended partition's size as the kernel sees it
    assert sfdisk(dev)["partitions"][0]["size"] * 512 == 99 * MiB
    assert got[1:] == [(5, 2 * MiB, 10 * MiB), (6, 13 * MiB, 10 * MiB)]
    c.set_preserve()
    rc, rep = c.run(tmp_path)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep


def test_delete_logical_partition_is_a_deliberate_difference(loops, tmp_path):
    """curtin deletes logical 5 and renumbers 6 as 5; blockprov never deletes a partition the config does not
    name: the preserved partition 5 the config describes is not on the disk as described, so it is a conflict
    and nothing is written."""
    psize = 20 << 20
    dev = attach(loops, "100M")
    c = Builder(2)
    c.add_disk(dev, "msdos")
    c.add_part("90M", number=1, flag="extended")
    c.add_part(psize, number=5, flag="logical")
    c.add_part(psize, number=6, flag="logical")
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert table(dev)[1:] == [(5, 2 * MiB, psize), (6, 3 * MiB + psize, psize)]
    before = table(dev)
    c2 = Builder(2)
    c2.add_disk(dev, "msdos", preserve=True)
    c2.add_part("90M", number=1, flag="extended", preserve=True)
    c2.add_part(psize, number=5, flag="logical", offset=f"{3 * MiB + psize}B", preserve=True)
    rc, rep = c2.run(tmp_path)
    st = statuses(rep)
    assert rc == 1 and st["id2"] == "conflict", rep
    assert table(dev) == before


@pytest.mark.parametrize("ptable", ["gpt", "msdos"])
def test_replace_partition_is_a_deliberate_difference(loops, tmp_path, ptable):
    """curtin replaces partition 2 (20 MiB) by a 40 MiB one because it is not preserved; blockprov refuses to
    replace a partition the config does not authorise (it may hold data), and writes nothing."""
    psize = 20 << 20
    dev = attach(loops, "100M")
    c = Builder(2)
    c.add_disk(dev, ptable)
    c.add_part(psize, number=1)
    c.add_part(psize, number=2)
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert table(dev) == [(1, MiB, psize), (2, MiB + psize, psize)]
    c2 = Builder(2)
    c2.add_disk(dev, ptable, preserve=True)
    c2.add_part(psize, number=1, offset=f"{MiB}B", preserve=True)
    c2.add_part(psize * 2, number=2)
    rc, rep = c2.run(tmp_path)
    assert rc == 1 and statuses(rep)["id2"] == "refused", rep
    assert "does not authorise replacing it" in next(i["reason"] for i in rep["items"] if i["id"] == "id2")
    assert table(dev) == [(1, MiB, psize), (2, MiB + psize, psize)]
