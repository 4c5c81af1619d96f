"""Update policies: which events may change storage, network and the modules' results (pure).

``updates: {storage|network|modules: {when: [EVENT, ...]}}`` or a shorthand
(``updates: {network: boot-change}``); ``update-handlers:`` maps hotplug
subsystems and watched URLs to built-in handlers or executables. A boot is one
of three events, from most to least specific: ``boot-new-instance``,
``boot-change`` (the datasource's data or the devices differ from the last
boot), ``boot``. ``when: [boot]`` accepts all three, ``[boot-change]`` the
first two, ``[boot-new-instance]`` only the first. ``update_policy`` adds the
``blockprov hotplug enable|disable`` choices kept on disk (its one read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from blockprov.paths import Paths

EVENTS = ("boot-new-instance", "boot-change", "boot", "hotplug", "metadata-change", "user-request")
SCOPES = ("storage", "network", "modules")
SHORTHANDS = {
    "never": (),
    "per-instance": ("boot-new-instance",),
    "boot": ("boot-new-instance", "boot"),
    "boot-change": ("boot-new-instance", "boot-change"),
    "always": EVENTS,
}
# Storage is plan-driven and touches only what the config names, so every event may apply it.
# Network rendering writes only changed files of its own, so every boot may re-render (an image
# whose network stack changed gets the right files), but interfaces that appear later are left
# alone unless hotplug is enabled. Other modules re-run only on request or a metadata change.
DEFAULT_WHEN = {
    "storage": EVENTS,
    "network": ("boot-new-instance", "boot", "metadata-change", "user-request"),
    "modules": ("boot-new-instance", "metadata-change", "user-request"),
}
BUILTIN_HANDLERS = ("storage", "network", "modules")
SUBSYSTEM_SCOPE = {"block": "storage", "net": "network"}
DEFAULT_HANDLERS = {"hotplug": {"block": ["storage"], "net": ["network", "modules"]},
                    "watchurl": {"datasource": ["network", "modules", "storage"]}}
ACCEPTS = {  # a boot event -> the `when` entries that accept it
    "boot-new-instance": {"boot-new-instance", "boot-change", "boot"},
    "boot-change": {"boot-change", "boot"},
}


class PolicyError(ValueError):
    """Bad ``updates`` / ``update-handlers`` config; the message starts with the JSON path."""


@dataclass(frozen=True)
class Policy:
    """Made by parse() only (``parse({})`` is the default policy)."""
    when: dict[str, frozenset[str]]
    hotplug: dict[str, tuple[str, ...]]
    watchurl: dict[str, tuple[str, ...]]
    disabled: frozenset[str] = frozenset()  # subsystems turned off by `blockprov hotplug disable`

    def allows(self, scope: str, event: str) -> bool:
        return bool(self.when[scope] & ACCEPTS.get(event, {event}))

    def hotplug_enabled(self, subsystem: str) -> bool:
        """Whether events of this subsystem are handled at all: its scope accepts hotplug, or it has executables."""
        if subsystem in self.disabled:
            return False
        handlers = self.hotplug.get(subsystem, ())
        scope = SUBSYSTEM_SCOPE.get(subsystem)
        return (scope is not None and self.allows(scope, "hotplug") and bool(handlers)) or \
            any(h not in BUILTIN_HANDLERS for h in handlers)


def _when(value, where: str) -> frozenset[str]:
    if isinstance(value, str):
        if value not in SHORTHANDS:
            raise PolicyError(f"{where}: unknown policy {value!r} (one of {', '.join(SHORTHANDS)}, or {{when: [...]}})")
        return frozenset(SHORTHANDS[value])
    if isinstance(value, dict):
        unknown = set(value) - {"when"}
        if unknown:
            raise PolicyError(f"{where}: unknown keys {sorted(unknown)} (only 'when')")
        value = value.get("when", [])
        where += ".when"
    if not isinstance(value, list):
        raise PolicyError(f"{where}: a list of events, or a policy name")
    out = set()
    for i, ev in enumerate(value):
        if isinstance(ev, str) and ev in SHORTHANDS and ev not in EVENTS:
            out |= set(SHORTHANDS[ev])
        elif ev not in EVENTS:
            raise PolicyError(f"{where}[{i}]: unknown event {ev!r} (one of {', '.join(EVENTS)})")
        else:
            out.add(ev)
    return frozenset(out)


def _handlers(value, where: str, keys: tuple[str, ...] | None) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: a mapping")
    out = {}
    for k, lst in value.items():
        kw = f"{where}.{k}"
        if keys is not None and k not in keys:
            raise PolicyError(f"{kw}: unknown subsystem (one of {', '.join(keys)})")
        if keys is None and k != "datasource" and not str(k).startswith(("http://", "https://")):
            raise PolicyError(f"{kw}: a watched URL (http:// or https://) or 'datasource'")
        if isinstance(lst, str):
            lst = [lst]
        if not isinstance(lst, list):
            raise PolicyError(f"{kw}: a list of handlers")
        for i, h in enumerate(lst):
            if not isinstance(h, str) or not (h in BUILTIN_HANDLERS or h.startswith("/")):
                raise PolicyError(f"{kw}[{i}]: {h!r} is neither a built-in handler "
                                  f"({', '.join(BUILTIN_HANDLERS)}) nor an absolute path to an executable")
        out[str(k)] = tuple(lst)
    return out


def parse(cfg: dict, overrides: dict | None = None) -> Policy:
    """The policy of a merged config; ``overrides`` ({"block": True, "net": False}) are `hotplug enable|disable`."""
    when = {s: frozenset(w) for s, w in DEFAULT_WHEN.items()}
    upd = cfg.get("updates")
    if upd is not None:
        if not isinstance(upd, dict):
            raise PolicyError("$.updates: a mapping of storage, network and modules to policies")
        for scope, value in upd.items():
            if scope not in SCOPES:
                raise PolicyError(f"$.updates.{scope}: unknown scope (one of {', '.join(SCOPES)})")
            when[scope] = _when(value, f"$.updates.{scope}")
    hotplug = {k: tuple(v) for k, v in DEFAULT_HANDLERS["hotplug"].items()}
    watchurl = {k: tuple(v) for k, v in DEFAULT_HANDLERS["watchurl"].items()}
    uh = cfg.get("update-handlers", cfg.get("update_handlers"))
    if uh is not None:
        if not isinstance(uh, dict):
            raise PolicyError("$.update-handlers: a mapping with hotplug and watchurl")
        unknown = set(uh) - {"hotplug", "watchurl"}
        if unknown:
            raise PolicyError(f"$.update-handlers: unknown keys {sorted(unknown)} (hotplug, watchurl)")
        if "hotplug" in uh:
            hotplug.update(_handlers(uh["hotplug"], "$.update-handlers.hotplug", ("block", "net")))
        if "watchurl" in uh:
            watchurl.update(_handlers(uh["watchurl"], "$.update-handlers.watchurl", None))
    for subsystem, on in (overrides or {}).items():
        scope = SUBSYSTEM_SCOPE.get(subsystem)
        if scope:
            when[scope] = when[scope] | {"hotplug"} if on else when[scope] - {"hotplug"}
    disabled = frozenset(k for k, on in (overrides or {}).items() if not on)
    return Policy(when, hotplug, watchurl, disabled)


def boot_event(new_instance: bool, changed: bool) -> str:
    return "boot-new-instance" if new_instance else "boot-change" if changed else "boot"


# -- the instance's policy: its config plus `hotplug enable|disable` (state on disk) ---------------------
def overrides(paths: Paths) -> dict:
    """``blockprov hotplug enable|disable`` choices: {"block": True, "net": False}."""
    import json

    try:
        data = json.loads((paths.state / "hotplug" / "overrides.json").read_text())
        return {k: bool(v) for k, v in data.items() if k in ("block", "net")}
    except (OSError, ValueError, AttributeError):
        return {}


def update_policy(paths: Paths, cfg: dict):
    """The instance's update policy: its config plus the `hotplug enable|disable` choices (PolicyError if bad)."""
    return parse(cfg, overrides(paths))
