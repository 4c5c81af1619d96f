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

from blockprov.boot import instance, semaphores, sysconfig
from blockprov.boot.reporting import FAIL, SUCCESS, WARN, Reporter
from blockprov.modules import StorageOutcome
from blockprov.paths import Paths, atomic_write, open_lock, open_log, sweep_temp

STAGES = ["init-local", "init-network", "modules-config", "modules-final"]
DESCRIPTIONS = {"init-local": "searching for local datasources", "init-network": "searching for network datasources",
                "modules-config": "running modules for config", "modules-final": "running modules for final"}


@dataclass
class ModuleRun:
    """How one module run ended (``ran``, ``skipped``, ``failed``) and what it settled of the storage, so a
    caller reads the result it is handed instead of state left on the runner."""

    state: str
    storage: StorageOutcome = field(default_factory=StorageOutcome)


@dataclass
class StageResult:
    stage: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # "module: what it did", for modules that say


class OutputLog:
    def __init__(self, paths: Paths):
        self.path = paths.output_log

    def __call__(self, text: str) -> None:
        with open_log(self.path) as f:
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
        paths.prepare()
        sweep_temp([paths.run, paths.state, paths.data, paths.instance_link, paths.global_sem])
        self._lock = open_lock(paths.boot_lock)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.cfg = sysconfig.load(paths)  # ConfigError propagates: exit 2 before anything is written
        self.reporter = Reporter(paths, self.cfg, self.log)
        self._parsed: dict = {}  # instance-id -> (vendor-data, user-data), parsed once per process
        self._policy: tuple | None = None  # (the config object it was parsed from, Policy)
        self._inputs: dict[str, dict] = {}  # instance-id -> {module: inputs digest}, written at close
        self._inputs_dirty: set[str] = set()

    def close(self) -> None:
        from blockprov.paths import write_if_changed

        for iid in self._inputs_dirty:
            write_if_changed(self.paths.instance_dir(iid) / "inputs.json",
                             json.dumps(self._inputs[iid], indent=1, sort_keys=True))
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
                STAGE_BODIES[stage](self, res)
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
            from blockprov.events import spool

            if spool.pending(self.paths):  # hotplug events that arrived during the boot
                from blockprov.events.spool import kick

                kick(self.paths)
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
        self._take(sd, res, online=False)
        self._modules("init-local", res)

    def _init_network(self, res: StageResult) -> None:
        if self._found_this_boot():
            sd = instance.cached(self.paths)
            if any(p.includes for p in self._userdata(sd, online=True)):
                # init-local could not fetch #include URLs: the config is merged again, now with them
                cfg = self._merged(sd, res, online=True)
                instance.save_config(self.paths, sd.instance_id, cfg)
                instance.write_instance_data(self.paths, sd, cfg)
        else:
            sd = self._search("init-network", res)
            if sd is None:
                res.errors.append("no datasource found (and None is not in datasource_list)")
                return
            self._take(sd, res)
            # A datasource that needs the network (OpenStack HTTP) was not there for init-local:
            # its modules (network first of all) run now, before the network stage's own.
            self._modules("init-local", res)
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
    def _take(self, sd, res: StageResult, online: bool = True) -> None:
        new = instance.activate(self.paths, sd)
        from blockprov.events.policy import boot_event

        event = boot_event(new, _fingerprint_changed(self.paths, sd, self.cfg))
        atomic_write(self.paths.run / "datasource.json", json.dumps(
            {"name": sd.name, "instance_id": sd.instance_id, "new_instance": new, "boot_event": event}))
        res.warnings.extend(sd.problems)
        self.log(f"datasource {sd.name} ({sd.subplatform or sd.platform}): instance {sd.instance_id}"
                 + (" (new instance)" if new else ""))
        cfg = self._merged(sd, res, online)
        instance.save_config(self.paths, sd.instance_id, cfg)
        instance.write_instance_data(self.paths, sd, cfg)
        self.reporter.configure(cfg)
        self.policy(cfg, res)  # a bad update policy is reported once, when the config is merged

    def _this_boot(self) -> dict:
        try:
            return json.loads((self.paths.run / "datasource.json").read_text())
        except (OSError, ValueError):
            return {}

    def _new_instance(self) -> bool:
        return bool(self._this_boot().get("new_instance"))

    def boot_event(self) -> str:
        return self._this_boot().get("boot_event") or "boot"

    def policy(self, cfg: dict, res: StageResult | None = None):
        """The update policy of ``cfg``; a bad one is reported once and the defaults apply."""
        from blockprov.events import policy
        from blockprov.events.policy import update_policy

        if self._policy is None or self._policy[0] is not cfg:
            try:
                pol = update_policy(self.paths, cfg)
            except policy.PolicyError as exc:
                pol = policy.parse({})
                if res is not None:
                    res.errors.append(f"{exc}; the default update policy applies")
            self._policy = (cfg, pol)
        return self._policy[1]

    def _inputs_of(self, iid: str) -> dict:
        if iid not in self._inputs:
            try:
                self._inputs[iid] = json.loads((self.paths.instance_dir(iid) / "inputs.json").read_text())
            except (OSError, ValueError):
                self._inputs[iid] = {}
        return self._inputs[iid]

    def _userdata(self, sd, online: bool = True):
        """(vendor-data, user-data) of ``sd``, parsed once however many stages of this process ask; ``online``
        says whether ``#include`` URLs may be fetched (not in init-local: no network yet)."""
        from blockprov.events.refresh import parsed

        key = (sd.instance_id, online)
        if key not in self._parsed:
            self._parsed[key] = parsed(self.paths, sd, self.cfg, online)
        return self._parsed[key]

    def _merged(self, sd, res: StageResult, online: bool = True) -> dict:
        from blockprov.events.refresh import compose

        # activate() already points the instance link at sd's directory: its config is sd's last merge, if any
        from blockprov.modules import _keys

        from blockprov.channel.layer import layer

        cfg, problems = compose(self.cfg, sd, instance.load_config(self.paths), self._userdata(sd, online),
                                layer(self.paths, sd.instance_id))
        res.warnings.extend(problems)
        res.warnings.extend(f"cloud-config: {line}" for line in _keys.report(cfg))  # nothing silently ignored
        return cfg

    def _consume(self, sd, res: StageResult) -> None:
        """Write this instance's scripts and injected files; run boothooks (every boot)."""
        idir = self.paths.instance_dir(sd.instance_id)
        from blockprov.events.refresh import gated

        vd, ud, _notes = gated(self.cfg, *self._userdata(sd))  # the notes were told when the config was merged
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
            from blockprov.run import run

            r = run([str(p)], check=False, timeout=600, env={"INSTANCE_ID": sd.instance_id})
            self.log(f"boothook {p.name}: exit {r.returncode}\n{r.stdout}{r.stderr}")
            if r.returncode:
                res.warnings.append(f"boothook {part.name} exited {r.returncode}")
        if self._new_instance():
            import base64

            for f in sd.files:
                target = self.paths.confined(f["path"])
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
                   force: bool = False, only_changed: bool = False, requested: bool = False) -> ModuleRun:
        """Run one module; ``only_changed`` (update mode) runs it only when its inputs changed since its last run;
        ``requested``: a management request (the event channel) asked for this run, which the boot-time
        ``updates`` gate of its scope does not hold back."""
        from blockprov import modules
        from blockprov.modules._schema import check as schema_check

        mod = modules.load(ent.name)
        meta = mod.META
        freq = ent.frequency or meta.frequency
        name = f"{stage}/config-{ent.name}"
        scope = meta.scope
        if scope and stage in STAGES and not requested:
            event = self.boot_event()
            if not self.policy(cfg).allows(scope, event):
                self.reporter.finish(name, f"{ent.name}: not run: updates.{scope} does not include {event}",
                                     SUCCESS, time.time())
                return ModuleRun("skipped")
        inputs = self._inputs_of(sd.instance_id)
        digest = modules.inputs_digest(mod, cfg, ent.args, sd)
        if only_changed:
            if inputs.get(ent.name) == digest:
                self.reporter.finish(name, f"{ent.name}: inputs unchanged", SUCCESS, time.time())
                return ModuleRun("skipped")
            force = True
        if not force and semaphores.done(self.paths, sd.instance_id, ent.name, freq):
            if not (meta.rerunnable and not scope and inputs.get(ent.name) != digest and self._rerun_changed(cfg)):
                self.reporter.finish(name, f"{ent.name} already ran ({freq})", SUCCESS, time.time())
                return ModuleRun("skipped")
        ctx = modules.ModuleContext(self.paths, cfg, sd.instance_id, stage, sd, self._new_instance(), self.log)
        with self.reporter.scope(name, f"running {ent.name} with frequency {freq}") as out:
            try:
                # RUN_SCHEMA: a module that checks its items one by one runs with the good ones
                bad = schema_check(meta.checked_by, cfg, ent.args,
                                   self.paths.cache / "module-schema-verdicts.json")
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
                return ModuleRun("failed", ctx.storage)
            else:
                if msg:
                    out.description = f"{ent.name}: {msg}"
                    self.log(f"{name}: {msg}")
                    res.done.append(f"{ent.name}: {msg}")
        semaphores.mark(self.paths, sd.instance_id, ent.name, freq)
        if inputs.get(ent.name) != digest:
            inputs[ent.name] = digest
            self._inputs_dirty.add(sd.instance_id)
        return ModuleRun("ran", ctx.storage)

    def _rerun_changed(self, cfg: dict) -> bool:
        """At a boot, whether the modules policy re-runs re-runnable modules whose inputs changed."""
        event = self.boot_event()
        return event != "boot-new-instance" and self.policy(cfg).allows("modules", event)

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


def devices_digest(paths: Paths) -> str:
    """Block devices and NICs with hardware behind them (not loop, dm or veth): a boot-change if these differ."""
    import hashlib
    from pathlib import Path

    from blockprov.net.observe import interfaces

    blocks = []
    base = Path("/sys/class/block")
    try:
        for name in sorted(os.listdir(base)):
            if (base / name / "device").exists():
                blocks.append(f"{name}:{(base / name / 'size').read_text().strip()}")
    except OSError:
        pass
    nics = [f"{n.name}:{n.mac}" for n in interfaces(paths) if n.physical]
    return hashlib.sha256(json.dumps([blocks, nics]).encode()).hexdigest()[:16]


def _fingerprint_changed(paths: Paths, sd, system_cfg: dict) -> bool:
    """Whether the datasource's data, the system config or the devices differ from the last boot's.

    Records this boot's fingerprint.
    """
    from blockprov.paths import write_if_changed
    from blockprov.events.refresh import digests

    import hashlib

    system = hashlib.sha256(json.dumps(system_cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]
    now = json.dumps({"datasource": digests(sd), "devices": devices_digest(paths), "system": system},
                     indent=1, sort_keys=True)
    f = paths.data / "boot-fingerprint.json"
    try:
        before = f.read_text()
    except OSError:
        before = None
    write_if_changed(f, now)
    return before is not None and before != now


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


# each stage's body (status, reporting and the lock are the same for all: Runner.run_stage)
STAGE_BODIES = {"init-local": Runner._init_local, "init-network": Runner._init_network,
                "modules-config": Runner._modules_config, "modules-final": Runner._modules_final}
