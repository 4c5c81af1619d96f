"""The validated config as a graph: items by id, their references and an order.

References are the keys that name another item; each has the item types it
may point to. The order is a topological sort that breaks ties by list order,
so plans are deterministic and independent of how the user sorted the list.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

# key -> (is_list, allowed target types)
BLOCK = ("disk", "partition", "raid", "lvm_partition", "dm_crypt", "bcache", "device")
REFS: dict[str, dict[str, tuple[bool, tuple[str, ...]]]] = {
    "disk": {"nvme_controller": (False, ("nvme_controller",))},
    "partition": {"device": (False, ("disk", "raid", "device", "bcache", "dm_crypt", "lvm_partition"))},
    "format": {"volume": (False, BLOCK)},
    "mount": {"device": (False, ("format",))},
    "lvm_volgroup": {"devices": (True, BLOCK)},
    "lvm_partition": {"volgroup": (False, ("lvm_volgroup",))},
    "dm_crypt": {"volume": (False, BLOCK)},
    "raid": {"devices": (True, BLOCK), "spare_devices": (True, BLOCK), "container": (False, ("raid",))},
    "bcache": {"backing_device": (False, BLOCK), "cache_device": (False, BLOCK)},
    "zpool": {"vdevs": (True, BLOCK)},
    "zfs": {"pool": (False, ("zpool",))},
    "dasd": {},
    "nvme_controller": {},
    "device": {},
}


def refs_of(item: dict) -> list[tuple[str, int | None, str]]:
    """(key, list index or None, target id) for every reference an item makes."""
    out = []
    for key, (is_list, _types) in REFS.get(item.get("type"), {}).items():
        value = item.get(key)
        if value is None:
            continue
        if is_list and isinstance(value, list):
            out.extend((key, i, v) for i, v in enumerate(value) if isinstance(v, str))
        elif isinstance(value, str):
            out.append((key, None, value))
    return out


@dataclass
class Model:
    version: int
    items: list[dict]
    prefix: str
    by_id: dict[str, dict] = field(default_factory=dict)
    index: dict[str, int] = field(default_factory=dict)
    deps: dict[str, list[str]] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, storage: dict, prefix: str = "$") -> "Model":
        """Assumes a config that passed validation (ids unique, refs resolve, no cycles)."""
        items = [dict(it, number=int(it["number"])) if isinstance(it.get("number"), str) else it
                 for it in storage.get("config", [])]  # curtin takes "2" as well as 2
        m = cls(version=int(storage.get("version", 1)), items=items, prefix=prefix)
        for i, it in enumerate(m.items):
            m.by_id[it["id"]] = it
            m.index[it["id"]] = i
            m.children.setdefault(it["id"], [])
        for it in m.items:
            ds = [t for _k, _i, t in refs_of(it) if t in m.by_id]
            m.deps[it["id"]] = list(dict.fromkeys(ds))
            for d in m.deps[it["id"]]:
                m.children[d].append(it["id"])
        add_mount_nesting(m)
        m.order = topo_order(m)
        return m

    def path(self, item_id: str, key: str | None = None) -> str:
        p = f"{self.prefix}.config[{self.index[item_id]}]"
        return f"{p}.{key}" if key else p

    def descendants(self, item_id: str) -> list[str]:
        seen: list[str] = []
        stack = list(self.children.get(item_id, []))
        while stack:
            c = stack.pop()
            if c not in seen:
                seen.append(c)
                stack.extend(self.children.get(c, []))
        return seen

    def root_disks(self, item_id: str) -> list[str]:
        """The disk-like items an item ultimately lives on."""
        out, stack, seen = [], [item_id], set()
        while stack:
            c = stack.pop()
            if c in seen:
                continue
            seen.add(c)
            if self.by_id[c]["type"] in ("disk", "device") or not self.deps.get(c):
                out.append(c)
            stack.extend(self.deps.get(c, []))
        return sorted(out, key=self.index.get)


def add_mount_nesting(m: Model) -> None:
    """A mount depends on the mount of each parent directory of its path (nearest ones first)."""
    by_path: dict[str, str] = {}
    for it in m.items:
        if it["type"] == "mount" and str(it.get("path", "")).startswith("/"):
            by_path.setdefault("/" + "/".join(p for p in it["path"].split("/") if p), it["id"])
    for path, iid in by_path.items():
        parts = [p for p in path.split("/") if p]
        for k in range(len(parts) - 1, -1, -1):
            parent = "/" + "/".join(parts[:k])
            pid = by_path.get(parent)
            if pid and pid != iid:
                if pid not in m.deps[iid]:
                    m.deps[iid].append(pid)
                    m.children[pid].append(iid)
                break


def mount_depth(item: dict) -> int:
    path = item.get("path") or ""
    return 0 if path in ("", "none") else len([p for p in path.split("/") if p])


def topo_order(m: Model) -> list[str]:
    """Kahn's algorithm; ready items ordered by (mount depth, list position)."""
    indeg = {i: len(m.deps[i]) for i in m.by_id}

    def key(i: str) -> tuple[int, int]:
        it = m.by_id[i]
        return (mount_depth(it) if it["type"] == "mount" else 0, m.index[i])

    ready = [(key(i), i) for i, d in indeg.items() if d == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _k, i = heapq.heappop(ready)
        order.append(i)
        for c in m.children[i]:
            indeg[c] -= 1
            if indeg[c] == 0:
                heapq.heappush(ready, (key(c), c))
    return order
