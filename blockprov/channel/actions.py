"""What ``config/set/<module>`` and ``config/get/<module>`` do on the instance.

A set is checked first (a module that exists, is re-runnable, and whose schema the
data passes; only that module's keys), then merged into the instance's config as
the last layer, kept in ``instances/<iid>/channel-config.json`` (0600; passwords
hashed before anything is written) so that later boots and metadata refreshes
keep it, and the module runs at once through the stage runner (its start and
finish events go out on the channel like a boot's). A get answers with the keys
the module reads from the effective config, secrets redacted as in
instance-data.json.
"""

from __future__ import annotations

import json

from blockprov.channel.layer import layer, layer_path
from blockprov.paths import Paths, atomic_write


def set_problem(module: str, data: dict) -> str | None:
    """Why a set must be refused, or None (pure but for loading the module's record)."""
    from blockprov import modules
    from blockprov.modules import _schema

    if module not in modules.known_modules():
        return f"no module named {module!r}"
    meta = modules.meta(module)
    if not meta.rerunnable:
        return (f"{module} is not re-runnable (it runs once per instance: running it again on a live instance "
                "would not do what its config says); nothing applied")
    keys = set(meta.schema.get("properties") or {})
    extra = sorted(set(data) - keys)
    if extra:
        return f"{', '.join(extra)}: not read by {module} (it reads {', '.join(sorted(keys)) or 'no keys'})"
    if not data:
        return f"no data: a set names the {module} keys to change"
    bad = _schema.check(meta.schema, data, {})
    if bad:
        return f"fails the {module} schema, nothing applied: " + "; ".join(bad[:10])
    return None


def stage_of(cfg: dict, module: str) -> str:
    from blockprov.boot import sysconfig

    for stage in sysconfig.STAGE_KEYS:
        if any(e.name == module for e in sysconfig.module_entries(cfg, stage)):
            return stage
    return "modules-config"


def apply_set(paths: Paths, module: str, data: dict) -> str:
    """Merge ``data`` into the instance's config and run ``module`` now; the module's result."""
    from blockprov.boot import instance, passwords
    from blockprov.boot.merge import merge_all
    from blockprov.boot.stages import Runner, StageResult
    from blockprov.boot.sysconfig import ModuleEntry

    sd, cfg = instance.cached(paths), instance.load_config(paths)
    if sd is None or cfg is None:
        raise RuntimeError("no instance yet (the boot has not found a datasource)")
    notes: list[str] = []
    data = passwords.hash_config(data, passwords.sha512, notes)
    kept = merge_all(layer(paths, sd.instance_id), data)
    atomic_write(layer_path(paths, sd.instance_id), json.dumps(kept, sort_keys=True), mode=0o600)
    cfg = merge_all(cfg, data)
    instance.save_config(paths, sd.instance_id, cfg)
    runner = Runner(paths)
    try:
        runner.reporter.configure(cfg)
        stage = stage_of(cfg, module)
        res = StageResult(stage)
        run = runner.run_module(stage, ModuleEntry(module, "always"), sd, cfg, res, force=True, requested=True)
    finally:
        runner.close()
    return run.state


def effective(paths: Paths, module: str) -> dict:
    from blockprov import modules
    from blockprov.boot import instance
    from blockprov.modules._schema import relevant

    if module not in modules.known_modules():
        return {}
    cfg = instance.load_config(paths) or {}
    return instance.redact(relevant(modules.meta(module).schema, cfg, {}))
