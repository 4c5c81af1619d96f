"""Planning of stacked devices: raid, lvm_volgroup, lvm_partition, dm_crypt, bcache (pure).

The same rules as for partitions and formats: a device that exists and matches
is ``ok``; with ``preserve: true`` it must exist (or be assemblable from
members that carry its signature) and match, else ``conflict`` says what
differs; without ``preserve`` a member holding anything else is ``refused``
unless its item has ``wipe``. Existing stacks are found by what they are built
from (members, backing device), not only by name, so a renamed or half-built
stack is never taken for absent.

Each function takes the planner and the item and records one status; steps
are appended to the plan in dependency order.
"""

from __future__ import annotations

from blockprov.storage import plan_grow, sizes

LEVELS = {"0": "raid0", "stripe": "raid0", "1": "raid1", "mirror": "raid1", "4": "raid4", "5": "raid5",
          "6": "raid6", "10": "raid10", "linear": "linear", "container": "container"}
EXTENT = 4 * sizes.MiB  # LVM's default physical extent size: LV sizes are rounded up to it


def raid_level(value) -> str:
    v = str(value).lower()
    return LEVELS.get(v.removeprefix("raid"), v)


def _dev(p, ref: str) -> str | None:
    return p.st[ref].device


def _refs(it: dict, key: str) -> list[str]:
    v = it.get(key)
    return [r for r in (v if isinstance(v, list) else [v] if v else []) if isinstance(r, str)]


def _claim(p, it: dict, refs: list[str], sig: str, path: str | None) -> bool:
    """Let an item put its member signature on each ref (consume rules); False when refused/waiting."""
    wipes = []
    for ref in refs:
        status, reason, wipe = p.consume(it, ref, sig)
        if status == "same" and not p.m.by_id[ref].get("wipe"):
            status, reason = "refused", (f"{_dev(p, ref)} already holds {sig} (a member of another {it['type']}); "
                                         f"add wipe to {ref} to reuse it")
        elif status == "same":
            status, wipe = "create", p.m.by_id[ref]["wipe"]
        if status != "create":
            p.mark(it, status, reason, path)
            return False
        if wipe:
            wipes.append((ref, wipe))
    for ref, wipe in wipes:
        p.add_step("wipe", it["id"], _dev(p, ref), mode=wipe)
    return True


def _verdict(p, it: dict, path: str, want: dict, got: dict, what: str) -> None:
    """ok when every wanted key matches what was found; conflict (preserve) or refused otherwise."""
    diff = {k: v for k, v in want.items() if got.get(k) != v}
    if not diff:
        return p.mark(it, "ok", f"preserved {what} verified" if it.get("preserve") else f"{what} already as desired",
                      path)
    text = "; ".join(f"{k}: expected {v}, found {got.get(k)}" for k, v in diff.items())
    if it.get("preserve"):
        return p.mark(it, "conflict", f"{what} differs: {text}", path, expected=want,
                      found={k: got.get(k) for k in want})
    p.mark(it, "refused", f"an existing {what} differs: {text} (the config does not authorise replacing it)", path,
           expected=want, found={k: got.get(k) for k in want})


def do_raid(p, it: dict) -> None:
    name = it.get("name") or it["id"]
    level = raid_level(it.get("raidlevel"))
    devices = [_dev(p, r) for r in _refs(it, "devices")]
    spares = [_dev(p, r) for r in _refs(it, "spare_devices")]
    ours = set(devices) | set(spares)
    path = f"/dev/md/{name}"
    existing = next((d for d in p.inv.devices.values() if d.kind == "raid" and d.name == name), None) or next(
        (d for d in p.inv.devices.values() if d.kind == "raid" and ours & (set(d.members) | set(d.spares))), None)
    want = {"level": level, "devices": sorted(devices), "spare_devices": sorted(spares)}
    if it.get("metadata"):
        want["metadata"] = str(it["metadata"])
    if existing is not None:
        got = {"level": existing.level, "devices": sorted(existing.members), "spare_devices": sorted(existing.spares),
               "metadata": existing.metadata, "name": existing.name}
        _verdict(p, it, existing.path, want, got, f"{level} array {existing.name or existing.path}")
        return _grow_raid(p, it, existing)
    new = [r for r in _refs(it, "devices") + _refs(it, "spare_devices") if p.st[r].new]
    sigs = {d: p.inv.devices[d] for d in ours if d in p.inv.devices}
    uuids = {s.fsuuid for s in sigs.values() if s.fstype == "linux_raid_member"}
    members_of_one = not new and len(sigs) == len(ours) and len(uuids) == 1 and all(
        s.fstype == "linux_raid_member" for s in sigs.values())
    if members_of_one:
        p.add_step("raid-assemble", it["id"], path, name=name, devices=sorted(ours))
        return p.mark(it, "create", f"assemble array {name} from its members ({', '.join(sorted(ours))})", path,
                      new=False)
    if it.get("preserve"):
        found = {d: (sigs[d].fstype if d in sigs else None) for d in sorted(ours)}
        return p.mark(it, "conflict", "preserved array is not assembled and its members are not all members of one "
                      "array: " + ", ".join(f"{d} holds {v or 'nothing'}" for d, v in found.items()), path,
                      expected={"members": sorted(ours), "signature": "linux_raid_member"}, found=found)
    if not _claim(p, it, _refs(it, "devices") + _refs(it, "spare_devices"), "linux_raid_member", path):
        return None
    p.add_step("raid-create", it["id"], path, name=name, level=level, devices=devices, spares=spares,
               metadata=str(it.get("metadata") or "1.2"))
    p.mark(it, "create", f"create {level} array {name} on {', '.join(devices)}", path, new=True)


def _grown(p, it: dict) -> bool:
    """The item is as the config says, so its layer may follow what grew under it."""
    return p.items[it["id"]].status == "ok"


def _grow_raid(p, it: dict, dev) -> None:
    if not _grown(p, it):
        return None
    after = {m: p.size_after(m) for m in dev.member_offsets}
    new = plan_grow.raid_after(dev, after)
    if new is None:
        return None
    p.add_step("raid-grow", it["id"], dev.path, size=new, component_size=plan_grow.raid_component(dev, after))
    p.after[dev.path] = new
    p.mark(it, "grow", f"grow array {dev.name or dev.path} from {sizes.human(dev.size)} to {sizes.human(new)} "
           "(its members grew; mdadm --grow --size max), data kept", dev.path, expected={"size": new},
           found={"size": dev.size})


def do_lvm_volgroup(p, it: dict) -> None:
    name = it["name"]
    pvs = sorted(_dev(p, r) for r in _refs(it, "devices"))
    path = f"/dev/{name}"
    if name in p.inv.vgs:
        _verdict(p, it, path, {"devices": pvs}, {"devices": sorted(p.inv.vgs[name])}, f"volume group {name}")
        return _grow_pvs(p, it, name, pvs)
    other = next((vg for vg, members in p.inv.vgs.items() if set(members) & set(pvs)), None)
    if other:
        return p.mark(it, "conflict" if it.get("preserve") else "refused",
                      f"its devices belong to volume group {other}, not {name}", path)
    if it.get("preserve"):
        return p.mark(it, "conflict", f"volume group {name} not found", path, expected={"devices": pvs}, found=None)
    if not _claim(p, it, _refs(it, "devices"), "LVM2_member", path):
        return None
    p.add_step("vg-create", it["id"], path, name=name, devices=pvs)
    p.mark(it, "create", f"create volume group {name} on {', '.join(pvs)}", path, new=True)


def _grow_pvs(p, it: dict, name: str, pvs: list[str]) -> None:
    vg = p.inv.vg_space.get(name)
    if not _grown(p, it) or vg is None:
        return None
    gained = {d: plan_grow.pv_extents_gained(p.inv.pvs[d], p.size_after(d), vg.extent) for d in pvs if d in p.inv.pvs}
    grown = sorted(d for d, n in gained.items() if n)
    if not grown:
        return None
    p.vg_gain[name] = sum(gained.values()) * vg.extent
    p.add_step("pv-resize", it["id"], f"/dev/{name}", devices=grown, vg=name,
               sizes={d: p.size_after(d) for d in grown})
    p.mark(it, "grow", f"grow volume group {name} from {sizes.human(vg.size)} to "
           f"{sizes.human(vg.size + p.vg_gain[name])} (pvresize {', '.join(grown)})", f"/dev/{name}",
           expected={"size": vg.size + p.vg_gain[name]}, found={"size": vg.size})


def lv_share(it: dict) -> float | None:
    """The share of its group an LV with a percentage size takes (``50%`` -> 0.5), else None."""
    if "size" not in it:
        return None
    pct = sizes.parse(it["size"]).percent
    return None if pct is None else float(pct) / 100  # a float: step args are JSON


def _grow_lv(p, it: dict, vgname: str, key: str, lv: dict) -> None:
    """An LV without a size (the rest of its group) or with a share of it takes what its group gained."""
    vg = p.inv.vg_space.get(vgname)
    if not _grown(p, it) or vg is None or lv_size(it) is not None:
        return None
    share = lv_share(it)
    taken = p.vg_taken.get(vgname, 0)
    space = type(vg)(size=vg.size, free=vg.free - taken, extent=vg.extent)
    new = plan_grow.lv_after(lv["size"], share, space, p.vg_gain.get(vgname, 0))
    if new is None:
        return None
    p.vg_taken[vgname] = taken + new - lv["size"]
    p.add_step("lv-extend", it["id"], lv["path"], vg=vgname, name=it["name"], size=new)
    if lv["path"]:
        p.after[lv["path"]] = new
    what = "the rest of its group" if share is None else f"{it['size']} of its group"
    p.mark(it, "grow", f"grow logical volume {key} from {sizes.human(lv['size'])} to {sizes.human(new)} ({what})",
           lv["path"], expected={"size": new}, found={"size": lv["size"]})


def lv_size(it: dict) -> int | None:
    """Bytes an LV of this item has once created (rounded up to whole extents); None: the rest of the group."""
    if "size" not in it:
        return None
    b = sizes.parse(it["size"]).bytes
    return None if b is None else -(-b // EXTENT) * EXTENT


def do_lvm_partition(p, it: dict) -> None:
    vg = p.m.by_id[it["volgroup"]]
    key = f"{vg['name']}/{it['name']}"
    lv = p.inv.lvs.get(key)
    size = lv_size(it)
    if lv is not None and not p.st[vg["id"]].new:
        want = {"size": size} if size is not None else {}
        _verdict(p, it, lv["path"], want, {"size": lv["size"]}, f"logical volume {key}")
        return _grow_lv(p, it, vg["name"], key, lv)
    path = f"/dev/{key}"
    if it.get("preserve"):
        return p.mark(it, "conflict", f"logical volume {key} not found", path, expected={"name": key}, found=None)
    p.add_step("lv-create", it["id"], path, vg=vg["name"], name=it["name"], size=size, share=lv_share(it))
    if it.get("wipe"):
        p.add_step("wipe", it["id"], path, mode=it["wipe"])
    extent = f", {sizes.human(size)}" if size else f", {it['size']} of the group" if lv_share(it) else \
        ", rest of the group"
    p.mark(it, "create", f"create logical volume {key}{extent}", path, new=True)


RANDOM_KEYS = ("/dev/urandom", "/dev/random")


def random_key(it: dict) -> bool:
    """A dm_crypt keyed from the random device (curtin's cryptoswap): plain dm-crypt, no header, a new key and
    so new, empty contents on every open (crypttab opens it at boot; ``swap`` there re-makes the swap)."""
    return it.get("keyfile") in RANDOM_KEYS


def do_dm_crypt(p, it: dict) -> None:
    name = it.get("dm_name") or it["id"]
    vol = _dev(p, it["volume"])
    path = f"/dev/mapper/{name}"
    what = "plain dm-crypt mapping" if random_key(it) else "LUKS mapping"
    existing = next((d for d in p.inv.devices.values() if d.kind == "crypt" and d.name == name), None)
    if existing is not None:
        _verdict(p, it, existing.path, {"volume": vol}, {"volume": (existing.members or [None])[0]},
                 f"{what} {name}")
        return None if random_key(it) else _grow_crypt(p, it, existing, vol)
    held = next((d for d in p.inv.devices.values() if d.kind == "crypt" and vol in d.members), None)
    if held is not None:
        return p.mark(it, "conflict" if it.get("preserve") else "refused",
                      f"{vol} is already open as {held.name}, not {name}", path)
    if random_key(it):
        # nothing on the volume survives an open with a new key: it must be new, blank, or wiped (as for LUKS);
        # with preserve there is nothing to verify but the mapping, which is opened again
        if not it.get("preserve") and not _claim(p, it, [it["volume"]], "plain dm-crypt", path):
            return None
        # not "crypt-open": that op brings up what exists before planning (apply's activation pass)
        p.add_step("crypt-plain", it["id"], path, name=name, volume=vol, plain=True, cipher=it.get("cipher"),
                   keysize=it.get("keysize"))
        return p.mark(it, "create", f"plain dm-crypt on {vol} with a random key, opened as {name}", path, new=True)
    dev = p.inv.devices.get(vol or "")
    if not p.st[it["volume"]].new and dev is not None and dev.fstype == "crypto_LUKS":
        p.add_step("crypt-open", it["id"], path, name=name, volume=vol)
        return p.mark(it, "create", f"open the LUKS volume on {vol} as {name}", path, new=False)
    if it.get("preserve"):
        return p.mark(it, "conflict", f"expected a LUKS volume on {vol}, found {dev.fstype if dev else 'nothing'}",
                      path, expected={"signature": "crypto_LUKS"}, found={"signature": dev.fstype if dev else None})
    if not _claim(p, it, [it["volume"]], "crypto_LUKS", path):
        return None
    p.add_step("crypt-format", it["id"], path, name=name, volume=vol, cipher=it.get("cipher"),
               keysize=it.get("keysize"))
    p.mark(it, "create", f"LUKS2 on {vol}, opened as {name}", path, new=True)


def _grow_crypt(p, it: dict, dev, vol: str) -> None:
    new = plan_grow.crypt_after(dev, p.size_after(vol)) if _grown(p, it) else None
    if new is None:
        return None
    p.add_step("crypt-resize", it["id"], dev.path, name=dev.name, size=new)
    p.after[dev.path] = new
    p.mark(it, "grow", f"grow LUKS mapping {dev.name} from {sizes.human(dev.size)} to {sizes.human(new)} "
           f"(its volume {vol} grew; cryptsetup resize)", dev.path, expected={"size": new}, found={"size": dev.size})


def do_bcache(p, it: dict) -> None:
    backing = _dev(p, it["backing_device"]) if it.get("backing_device") else None
    cache = _dev(p, it["cache_device"]) if it.get("cache_device") else None
    mode = it.get("cache_mode")
    label = it.get("name") or it["id"]
    path = f"/dev/bcache/by-item/{it['id']}"  # placeholder until the kernel names it bcacheN
    if backing is None:
        return p.mark(it, "unsupported", "a cache set without a backing device is not executed here")
    existing = next((d for d in p.inv.devices.values() if d.kind == "bcache" and backing in d.members), None)
    if existing is not None and not p.st[it["backing_device"]].new:
        want = {"cache_devices": [cache] if cache else existing.caches}
        if mode:
            want["cache_mode"] = mode
        got = {"cache_devices": existing.caches, "cache_mode": existing.cache_mode}
        if not it.get("preserve") and want["cache_devices"] == got["cache_devices"] and mode and mode != got["cache_mode"]:
            p.add_step("bcache-mode", it["id"], existing.path, mode=mode)
            return p.mark(it, "create", f"cache mode {got['cache_mode']} -> {mode}", existing.path)
        return _verdict(p, it, existing.path, want, got, f"bcache {existing.path.rsplit('/', 1)[-1]}")
    bdev = p.inv.devices.get(backing)
    if not p.st[it["backing_device"]].new and bdev is not None and bdev.fstype == "bcache":
        p.add_step("bcache-register", it["id"], path, backing=backing, cache=cache, mode=mode)
        return p.mark(it, "create", f"register the bcache backing device {backing}", path, new=False)
    if it.get("preserve"):
        return p.mark(it, "conflict", f"expected a bcache backing device on {backing}, found "
                      f"{bdev.fstype if bdev else 'nothing'}", path, expected={"signature": "bcache"},
                      found={"signature": bdev.fstype if bdev else None})
    refs = [it["backing_device"]] + ([it["cache_device"]] if cache else [])
    if not _claim(p, it, refs, "bcache", path):
        return None
    p.add_step("bcache-create", it["id"], path, backing=backing, cache=cache, mode=mode)
    p.mark(it, "create", f"bcache {label}: backing {backing}" + (f", cache {cache}" if cache else ""), path, new=True)


PLANNERS = {"raid": do_raid, "lvm_volgroup": do_lvm_volgroup, "lvm_partition": do_lvm_partition,
            "dm_crypt": do_dm_crypt, "bcache": do_bcache}
