"""System config: ``etc/blockprov/blockprov.cfg`` then ``blockprov.cfg.d/*.cfg`` (YAML, merged in order).

Module lists per stage (``init_local_modules``, ``init_modules``,
``config_modules``, ``final_modules``); an entry is ``name``, ``[name,
frequency]`` or ``{name, frequency, args}``. Unknown module names, unknown
frequencies and unreadable files are errors at load, naming the file or key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from blockprov.boot.merge import merge
from blockprov.paths import Paths

STAGE_KEYS = {"init-local": "init_local_modules", "init-network": "init_modules",
              "modules-config": "config_modules", "modules-final": "final_modules"}
FREQUENCIES = {"per-instance": "per-instance", "once-per-instance": "per-instance", "instance": "per-instance",
               "always": "always", "per-boot": "always", "boot": "always",
               "once": "once", "per-once": "once"}

DEFAULTS: dict = {
    "datasource_list": ["NoCloud", "ConfigDrive", "Azure", "OpenStack", "None"],
    "init_local_modules": ["network"],
    "init_modules": ["growpart", "bootcmd", "write_files", "storage", "disks", "hostname", "users_groups", "ssh"],
    "config_modules": ["set_passwords", "apt_configure", "ntp", "timezone", "locale", "runcmd"],
    "final_modules": ["package_update_upgrade_install", "scripts_vendor", "scripts_per_once", "scripts_per_boot", "scripts_per_instance",
                      "scripts_user", "write_files_deferred", "phone_home", "final_message", "power_state"],
}


class ConfigError(Exception):
    """Bad system config: the boot cannot sensibly go on (exit 2)."""


@dataclass
class ModuleEntry:
    name: str
    frequency: str | None = None  # None: the module's default
    args: dict = field(default_factory=dict)


def normalize_frequency(value, where: str) -> str:
    f = FREQUENCIES.get(str(value).strip().lower()) if isinstance(value, str) else None
    if f is None:
        raise ConfigError(f"{where}: unknown frequency {value!r} (per-instance, always or once)")
    return f


def load(paths: Paths) -> dict:
    """The merged system config. A valid result is kept in ``run/blockprov/sysconfig.json`` with the files'
    stat, so the next process (each boot stage, each hotplug) skips importing and running the YAML parser."""
    import json
    import os

    from blockprov import __version__

    files = [paths.sysconfig] + (sorted(paths.sysconfig_d.glob("*.cfg")) if paths.sysconfig_d.is_dir() else [])
    stamp = [__version__, json.dumps(DEFAULTS, sort_keys=True, default=str)]
    for f in files:
        try:
            st = f.stat()
        except FileNotFoundError:
            continue
        except OSError:
            stamp = None  # unreadable: _parse says why
            break
        stamp.append([str(f), st.st_mtime_ns, st.st_size, st.st_ino])
    cache = paths.run / "sysconfig.json"
    if stamp is not None:
        try:
            kept = json.loads(cache.read_text())
            if kept.get("stamp") == stamp:
                return kept["cfg"]
        except (OSError, ValueError, AttributeError, KeyError):
            pass
    cfg = _parse(files)
    if stamp is not None and os.access(paths.run, os.W_OK):
        try:
            text = json.dumps({"stamp": stamp, "cfg": cfg})
            if json.loads(text)["cfg"] == cfg:  # YAML dates, int keys...: not cached, parsed each time
                from blockprov.paths import atomic_write

                atomic_write(cache, text, mode=0o600)  # the config may hold reporting credentials
        except (TypeError, ValueError, OSError):
            pass
    return cfg


def _parse(files: list) -> dict:
    from blockprov.boot.userdata import load_yaml

    cfg = dict(DEFAULTS)
    for f in files:
        try:
            text = f.read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ConfigError(f"{f}: {exc.strerror}") from None
        try:
            obj = load_yaml(text)
        except Exception as exc:  # noqa: BLE001 - every YAML error type
            raise ConfigError(f"{f}: invalid YAML: {' '.join(str(exc).split())[:300]}") from None
        if obj is None:
            continue
        if not isinstance(obj, dict):
            raise ConfigError(f"{f}: must be a YAML mapping, got {type(obj).__name__}")
        cfg = merge(cfg, obj)
    for stage in STAGE_KEYS:
        module_entries(cfg, stage)  # unknown names are an error now, not mid-boot
    return cfg


def module_entries(cfg: dict, stage: str) -> list[ModuleEntry]:
    from blockprov.modules import known_modules

    key = STAGE_KEYS[stage]
    raw = cfg.get(key) or []
    if not isinstance(raw, list):
        raise ConfigError(f"$.{key}: must be a list of module entries")
    names = known_modules()
    out = []
    for i, e in enumerate(raw):
        where = f"$.{key}[{i}]"
        if isinstance(e, str):
            ent = ModuleEntry(e)
        elif isinstance(e, list) and e and isinstance(e[0], str) and len(e) <= 3:
            ent = ModuleEntry(e[0], normalize_frequency(e[1], where) if len(e) > 1 and e[1] is not None else None,
                              e[2] if len(e) > 2 and isinstance(e[2], dict) else {})
        elif isinstance(e, dict) and isinstance(e.get("name"), str):
            unknown = set(e) - {"name", "frequency", "args"}
            if unknown:
                raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
            args = e.get("args") or {}
            if not isinstance(args, dict):
                raise ConfigError(f"{where}.args: must be a mapping")
            ent = ModuleEntry(e["name"], normalize_frequency(e["frequency"], where) if e.get("frequency") else None,
                              args)
        else:
            raise ConfigError(f"{where}: a module entry is a name, [name, frequency] or {{name, frequency, args}}")
        ent.name = ent.name.replace("-", "_")
        if ent.name not in names:
            raise ConfigError(f"{where}: unknown module {e if isinstance(e, str) else ent.name!r} "
                              f"(known: {', '.join(sorted(names))})")
        out.append(ent)
    return out
