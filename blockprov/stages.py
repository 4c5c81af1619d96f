"""The boot stage runner: init-local, init-network, modules-config, modules-final.

Each stage is a function of the root; ``boot`` runs all four in one process.
Progress goes to ``run/blockprov/status.json`` (written atomically at every
stage start and finish) and, after the final stage, ``result.json``.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass, field

from blockprov import instance, semaphores, sysconfig
from blockprov.merge import merge_all
from blockprov.paths import Paths, atomic_write
from blockprov.reporting import FAIL, SUCCESS, WARN, Reporter

STAGES = ["init-local", "init-network", "modules-config", "modules-final"]
DESCRIPTIONS = {"init-local": "searching for local datasources", "init-network": "searching for network datasources",
                "modules-config": "running modules for config", "modules-final": "running modules for final"}


@dataclass
class StageResult:
    stage: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class OutputLog:
    def __init__(self, paths: Paths):
        self.path = paths.output_log

    def __call__(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            for line in text.rstrip("\n").splitlines() or [""]:
                f.write(f"{stamp} {line}\n")


def _status(paths: Paths) -> dict:
    try:
        st = json.loads(paths.status.read_text())
        if isinstance(st.get("v1"), dict):
            return st
    except (OSError, ValueError):
        pass
    return {"v1": {"datasource": None, "stage": None}}


def _save_status(paths: Paths, st: dict) -> None:
    atomic_write(paths.status, json.dumps(st, indent=1, sort_keys=True))


class Runner:
    def __init__(self, paths: Paths):
        self.paths = paths
        self.log = OutputLog(paths)
        paths.run.mkdir(parents=True, exist_ok=True)
        self._lock = open(paths.boot_lock, "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.cfg = sysconfig.load(paths)  # ConfigError propagates: exit 2 before anything is written
        self.reporter = Reporter(paths, self.cfg, self.log)
        self._parsed: dict = {}  # instance-id -> (vendor-data, user-data), parsed once per process

    def close(self) -> None:
        self.reporter.close()
        self._lock.close()

    # -- stages -----------------------------------------------------------------
    def run(self, stage: str) -> StageResult:
        res = StageResult(stage)
        st = _status(self.paths)
        v1 = st["v1"]
        v1["stage"] = stage
        v1[stage] = {"start": time.time(), "finished": None, "errors": [], "warnings": []}
        _save_status(self.paths, st)
        with self.reporter.scope(stage, DESCRIPTIONS[stage]) as out:
            try:
                getattr(self, "_" + stage.replace("-", "_"))(res)
            except Exception as exc:  # noqa: BLE001 - a stage never dies silently; it records why
                res.errors.append(f"{stage}: {type(exc).__name__}: {exc}")
            out.result = FAIL if res.errors else WARN if res.warnings else SUCCESS
        st = _status(self.paths)
        st["v1"][stage].update(finished=time.time(), errors=res.errors, warnings=res.warnings)
        st["v1"]["stage"] = None
        ds = instance.cached(self.paths) if self._found_this_boot() else None
        st["v1"]["datasource"] = ds.name if ds else st["v1"].get("datasource")
        _save_status(self.paths, st)
        for e in res.errors:
            self.log(f"{stage}: ERROR {e}")
        for w in res.warnings:
            self.log(f"{stage}: WARNING {w}")
        if stage == "modules-final":
            self._write_result(st)
        return res

    def _found_this_boot(self) -> bool:
        return (self.paths.run / "datasource.json").exists()

    def _search(self, stage: str, res: StageResult):
        from blockprov.sources import Context, search

        ctx = Context(self.paths, self.cfg, stage="local" if stage == "init-local" else "net")
        names = self.cfg.get("datasource_list") or []
        if not isinstance(names, list):
            raise sysconfig.ConfigError("$.datasource_list: must be a list of names")
        found = search(ctx, [str(n) for n in names])
        res.warnings.extend(found.errors)
        return found.found

    def _init_local(self, res: StageResult) -> None:
        sd = self._search("init-local", res)
        if sd is None:
            self.log("init-local: no local datasource")
            return
        if sd.dsmode != "local":
            self.log(f"init-local: {sd.name} found with dsmode {sd.dsmode}; left to the network stage")
            return
        self._take(sd, res)
        self._modules("init-local", res)

    def _init_network(self, res: StageResult) -> None:
        if self._found_this_boot():
            sd = instance.cached(self.paths)
        else:
            sd = self._search("init-network", res)
            if sd is None:
                res.errors.append("no datasource found (and None is not in datasource_list)")
                return
            self._take(sd, res)
        self._consume(sd, res)
        self._modules("init-network", res)

    def _modules_config(self, res: StageResult) -> None:
        self._modules("modules-config", res)

    def _modules_final(self, res: StageResult) -> None:
        self._modules("modules-final", res)
        ds = instance.cached(self.paths)
        msg = f"blockprov finished at {time.strftime('%Y-%m-%d %H:%M:%S')}; datasource {ds.name if ds else 'none'}"
        self.log(msg)

    # -- instance set-up ------------------------------------------------------
    def _take(self, sd, res: StageResult) -> None:
        new = instance.activate(self.paths, sd)
        atomic_write(self.paths.run / "datasource.json",
                     json.dumps({"name": sd.name, "instance_id": sd.instance_id, "new_instance": new}))
        res.warnings.extend(sd.problems)
        self.log(f"datasource {sd.name} ({sd.subplatform or sd.platform}): instance {sd.instance_id}"
                 + (" (new instance)" if new else ""))
        cfg = self._merged(sd, res)
        instance.save_config(self.paths, sd.instance_id, cfg)
        instance.write_instance_data(self.paths, sd, cfg)
        self.reporter.configure(cfg)

    def _new_instance(self) -> bool:
        try:
            return bool(json.loads((self.paths.run / "datasource.json").read_text()).get("new_instance"))
        except (OSError, ValueError):
            return False

    def _userdata(self, sd):
        """(vendor-data, user-data) of ``sd``, parsed once however many stages of this process ask."""
        from blockprov import userdata

        if sd.instance_id not in self._parsed:
            self._parsed[sd.instance_id] = (userdata.parse(sd.vendordata, "vendor-data"),
                                            userdata.parse(sd.userdata, "user-data"))
        return self._parsed[sd.instance_id]

    def _merged(self, sd, res: StageResult) -> dict:
        vd, ud = self._userdata(sd)
        res.warnings.extend(vd.problems + ud.problems)
        from blockprov.passwords import hash_config

        return hash_config(merge_all(self.cfg, sd.cfg, vd.cloud_config, ud.cloud_config))

    def _consume(self, sd, res: StageResult) -> None:
        """Write this instance's scripts and injected files; run boothooks (every boot)."""
        idir = self.paths.instance_dir(sd.instance_id)
        vd, ud = self._userdata(sd)
        dirs = {"script": idir / "scripts", "script-per-boot": self.paths.scripts / "per-boot",
                "script-per-instance": self.paths.scripts / "per-instance",
                "script-per-once": self.paths.scripts / "per-once"}
        for i, part in enumerate(ud.scripts):
            _write_script(dirs[part.kind], part.name, i, part.payload)
        vendor_dir = self.paths.scripts / "vendor"
        if self._new_instance() and vendor_dir.is_dir():
            for old in vendor_dir.iterdir():
                old.unlink()
        for i, part in enumerate(vd.scripts):
            _write_script(vendor_dir, part.name, i, part.payload)
        hooks = idir / "boothooks"
        for i, part in enumerate(ud.boothooks):
            p = _write_script(hooks, part.name, i, _strip_first_line(part.payload))
            from blockprov.storage.run import run

            r = run([str(p)], check=False, timeout=600, env={"INSTANCE_ID": sd.instance_id})
            self.log(f"boothook {p.name}: exit {r.returncode}\n{r.stdout}{r.stderr}")
            if r.returncode:
                res.warnings.append(f"boothook {part.name} exited {r.returncode}")
        if self._new_instance():
            import base64

            for f in sd.files:
                target = self.paths.inside(f["path"])
                atomic_write(target, base64.b64decode(f["content"]), mode=int(str(f.get("mode", "644")), 8))
                self.log(f"injected file {f['path']}")

    # -- modules ----------------------------------------------------------------
    def _modules(self, stage: str, res: StageResult) -> None:
        sd = instance.cached(self.paths)
        cfg = instance.load_config(self.paths)
        if sd is None or cfg is None:
            self.log(f"{stage}: no instance; modules not run")
            return
        entries = sysconfig.module_entries(cfg, stage)
        for ent in entries:
            self.run_module(stage, ent, sd, cfg, res)

    def run_module(self, stage: str, ent: sysconfig.ModuleEntry, sd, cfg: dict, res: StageResult,
                   force: bool = False) -> str:
        from blockprov import modules
        from blockprov.modules._schema import check as schema_check

        mod = modules.load(ent.name)
        freq = ent.frequency or mod.FREQUENCY
        name = f"{stage}/config-{ent.name}"
        if not force and semaphores.done(self.paths, sd.instance_id, ent.name, freq):
            self.reporter.finish(name, f"{ent.name} already ran ({freq})", SUCCESS, time.time())
            return "skipped"
        ctx = modules.ModuleContext(self.paths, cfg, sd.instance_id, stage, sd, self._new_instance(), self.log)
        with self.reporter.scope(name, f"running {ent.name} with frequency {freq}") as out:
            try:
                bad = schema_check(mod.SCHEMA, cfg, ent.args, self.paths.cache / "module-schema-verdicts.json")
                if bad:
                    raise ValueError("invalid config, not run: " + "; ".join(bad[:10]))
                msg = mod.handle(ctx, ent.args)
            except modules.ModuleWarning as exc:
                out.result, out.description = WARN, f"{ent.name}: {exc}"
                res.warnings.append(f"{ent.name}: {exc}")
            except Exception as exc:  # noqa: BLE001 - one module's failure must not stop the others
                out.result, out.description = FAIL, f"{ent.name}: {exc}"
                res.errors.append(f"{ent.name}: {exc}")
                self.log(f"{name}: FAIL {exc}")
                return "failed"
            else:
                if msg:
                    out.description = f"{ent.name}: {msg}"
                    self.log(f"{name}: {msg}")
        semaphores.mark(self.paths, sd.instance_id, ent.name, freq)
        return "ran"

    def _write_result(self, st: dict) -> None:
        errors, warnings = [], []
        for s in STAGES:
            info = st["v1"].get(s)
            if isinstance(info, dict):
                errors += info.get("errors") or []
                warnings += info.get("warnings") or []
        atomic_write(self.paths.result, json.dumps({"v1": {"datasource": st["v1"].get("datasource"),
                                                           "errors": errors, "warnings": warnings,
                                                           "finished": time.time()}}, indent=1))


def _strip_first_line(payload: bytes) -> bytes:
    """A boothook's ``#cloud-boothook`` line is not a shebang: run the rest with /bin/sh."""
    rest = payload.split(b"\n", 1)[1] if b"\n" in payload else b""
    return b"#!/bin/sh\n" + rest if not rest.startswith(b"#!") else rest


def _write_script(directory, name: str, index: int, payload: bytes):
    from blockprov.paths import safe_name, write_if_changed

    base = safe_name(os.path.basename(name)) if name and "/" not in name.strip("/") else f"part-{index:03d}"
    p = directory / base
    write_if_changed(p, payload, mode=0o700)
    return p


def run_stages(paths: Paths, stages: list[str]) -> list[StageResult]:
    runner = Runner(paths)
    try:
        return [runner.run(s) for s in stages]
    finally:
        runner.close()
