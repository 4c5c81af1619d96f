"""Executors for stacked devices: mdadm, LVM, cryptsetup (LUKS2) and bcache.

A mixin of the Executor: each ``op_*`` runs its commands (argv lists, with
timeouts) and returns the journal detail. A device whose kernel name is known
only once it exists (``/dev/md/NAME`` -> ``/dev/md127``, a bcache placeholder
-> ``/dev/bcache0``) is recorded in ``self.alias`` so later steps use the real
node.
"""

from __future__ import annotations

import os
from pathlib import Path

from blockprov.run import run


def _sysfs_write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class StackOps:
    """Needs from the executor: cmd(), settle(), m (model), alias (dict), StepFailed."""

    def _settled_node(self, path: str) -> str:
        self.settle()
        real = os.path.realpath(path)
        if not os.path.exists(real):
            raise self.StepFailed(f"{path} did not appear after creating it")
        self.alias[path] = real
        return real

    # -- md -----------------------------------------------------------------------
    def op_raid_create(self, step):
        a = step.args
        # homehost "any": the array keeps its name whatever the host is called later (provisioning often runs
        # before the hostname is set, and images move between hosts); otherwise it comes back as md127
        argv = ["mdadm", "--create", step.device, "--run", f"--level={a['level']}", f"--metadata={a['metadata']}",
                "--homehost=any", f"--name={a['name']}", f"--raid-devices={len(a['devices'])}"]
        if a["spares"]:
            argv.append(f"--spare-devices={len(a['spares'])}")
        self.cmd(argv + [self.real(d) for d in a["devices"] + a["spares"]], timeout=300)
        return {"md": self._settled_node(step.device), "level": a["level"]}

    def op_raid_assemble(self, step):
        self.cmd(["mdadm", "--assemble", "--run", step.device, *[self.real(d) for d in step.args["devices"]]],
                 timeout=300)
        return {"md": self._settled_node(step.device)}

    # -- LVM ----------------------------------------------------------------------
    def op_vg_create(self, step):
        self.cmd(["vgcreate", "--yes", step.args["name"], *[self.real(d) for d in step.args["devices"]]])
        return {"vg": step.args["name"]}

    def op_lv_create(self, step):
        a = step.args
        size = ["-L", f"{a['size']}b"] if a.get("size") else \
            ["-l", f"{round(a['share'] * 100, 4):g}%VG"] if a.get("share") else ["-l", "100%FREE"]
        self.cmd(["lvcreate", "--yes", "--wipesignatures", "y", "-n", a["name"], *size, a["vg"]])
        return {"lv": self._settled_node(step.device)}

    # -- the grow chain (plan_grow): each grows its layer to what lies below, data kept, online --
    def op_raid_grow(self, step):
        md = self.real(step.device)
        self.cmd(["mdadm", "--grow", md, "--size", "max"], timeout=600)
        return {"md": md, "size": self._size_of(md)}

    def op_pv_resize(self, step):
        for dev in step.args["devices"]:
            self.cmd(["pvresize", self.real(dev)])
        return {"devices": step.args["devices"]}

    def op_lv_extend(self, step):
        a = step.args
        # the size the plan computed, in bytes: a repeat after a crash asks for what is already there (no-op)
        lv = f"{a['vg']}/{a['name']}"
        have = int(self.cmd(["lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "lv_size", lv]).strip() or 0)
        if have < a["size"]:
            self.cmd(["lvextend", "-L", f"{a['size']}b", lv])
        return {"lv": lv, "size": a["size"]}

    def op_crypt_resize(self, step):
        keyarg, stdin = self._key(step.item)  # LUKS2 keeps its volume key in the kernel keyring: resize asks again
        self.cmd(["cryptsetup", "resize", *keyarg, step.args["name"]], input=stdin, timeout=600)
        return {"mapping": step.args["name"], "size": self._size_of(self.real(step.device))}

    @staticmethod
    def _size_of(node: str) -> int:
        with open(f"/sys/class/block/{os.path.basename(os.path.realpath(node))}/size") as f:
            return int(f.read()) * 512

    def op_lv_activate(self, step):
        self.cmd(["lvchange", "--activate", "y", f"{step.args['vg']}/{step.args['name']}"])
        return {"lv": self._settled_node(step.device)}

    # -- dm-crypt -----------------------------------------------------------------
    def _key(self, item_id: str) -> tuple[list[str], str | None]:
        """(--key-file argument, stdin): a keyfile path, or the passphrase on stdin (never in argv)."""
        it = self.m.by_id[item_id]
        if it.get("keyfile"):
            return [f"--key-file={it['keyfile']}"], None
        if it.get("key") is not None:
            return ["--key-file=-"], str(it["key"])
        raise self.StepFailed(f"{item_id}: dm_crypt needs key or keyfile")

    def op_crypt_format(self, step):
        a = step.args
        keyarg, stdin = self._key(step.item)
        argv = ["cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2"]
        argv += ["--cipher", a["cipher"]] if a.get("cipher") else []
        argv += ["--key-size", str(a["keysize"])] if a.get("keysize") else []
        self.cmd(argv + keyarg + [self.real(a["volume"])], input=stdin, timeout=600)
        return self.op_crypt_open(step)

    def op_crypt_open(self, step):
        a = step.args
        keyarg, stdin = self._key(step.item)
        kind = ["--type", "plain"] if a.get("plain") else ["--type", "luks"]
        if a.get("plain"):  # plain mode takes its cipher at open time (LUKS keeps it in the header)
            kind += ["--cipher", a["cipher"]] if a.get("cipher") else []
            kind += ["--key-size", str(a["keysize"])] if a.get("keysize") else []
        self.cmd(["cryptsetup", "open", *kind, *keyarg, self.real(a["volume"]), a["name"]], input=stdin,
                 timeout=600)
        return {"mapping": self._settled_node(step.device)}

    def op_crypt_plain(self, step):
        """Plain dm-crypt with a random key (cryptoswap): made anew by every open."""
        return self.op_crypt_open(step)

    # -- bcache -------------------------------------------------------------------
    def op_bcache_create(self, step):
        a = step.args
        argv = ["make-bcache", "-B", self.real(a["backing"])]
        argv += ["-C", self.real(a["cache"])] if a.get("cache") else []
        argv += ["--writeback"] if a.get("mode") == "writeback" else []
        self.cmd(argv)
        return self.op_bcache_register(step)

    def op_bcache_register(self, step):
        a = step.args
        run(["modprobe", "bcache"], check=False, timeout=30)
        for dev in [a["backing"]] + ([a["cache"]] if a.get("cache") else []):
            try:
                _sysfs_write(Path("/sys/fs/bcache/register"), self.real(dev))
            except OSError:
                pass  # already registered (udev's bcache rule may have been first); the wait below decides
        node = self._wait_bcache(self.real(a["backing"]))
        self.alias[step.device] = node
        if a.get("cache"):
            self._attach(node, self.real(a["cache"]))
        if a.get("mode"):
            self._set_mode(node, a["mode"])
        return {"bcache": node}

    def op_bcache_mode(self, step):
        self._set_mode(step.device, step.args["mode"])
        return {"mode": step.args["mode"]}

    def _wait_bcache(self, backing: str) -> str:
        from tenacity import RetryError, retry, retry_if_result, stop_after_delay, wait_fixed

        link = Path(f"/sys/class/block/{os.path.basename(backing)}/bcache/dev")

        @retry(retry=retry_if_result(lambda v: v is None), stop=stop_after_delay(15), wait=wait_fixed(0.1))
        def find():
            return f"/dev/{os.path.basename(os.path.realpath(link))}" if link.exists() else None

        try:
            node = find()
        except RetryError:
            raise self.StepFailed(f"{backing}: no bcache device appeared within 15 s of registering it") from None
        self.settle()
        return node

    def _attach(self, node: str, cache: str) -> None:
        bdir = Path(f"/sys/class/block/{os.path.basename(node)}/bcache")
        if (bdir / "cache").exists():
            return
        out = self.cmd(["bcache-super-show", cache])
        cset = next((ln.split()[-1] for ln in out.splitlines() if ln.startswith("cset.uuid")), None)
        if not cset:
            raise self.StepFailed(f"{cache}: bcache-super-show names no cache set")
        try:
            _sysfs_write(bdir / "attach", cset)
        except OSError as exc:
            raise self.StepFailed(f"attach {cache} to {node}: {exc.strerror}") from None

    def _set_mode(self, node: str, mode: str) -> None:
        try:
            _sysfs_write(Path(f"/sys/class/block/{os.path.basename(node)}/bcache/cache_mode"), mode)
        except OSError as exc:
            raise self.StepFailed(f"cache_mode {mode} on {node}: {exc.strerror}") from None
