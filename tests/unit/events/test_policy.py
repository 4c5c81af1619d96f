"""The update policy (pure): shorthands, when-lists, handlers, overrides, and errors by JSON path."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blockprov.events.policy import EVENTS, SHORTHANDS, Policy, PolicyError, boot_event, parse


def test_defaults():
    p = parse({})
    assert p.allows("storage", "hotplug") and p.hotplug_enabled("block")
    assert not p.allows("network", "hotplug") and not p.hotplug_enabled("net")
    assert p.allows("network", "boot") and p.allows("modules", "metadata-change")
    assert not p.allows("modules", "boot") and p.allows("modules", "boot-new-instance")
    assert p.hotplug == {"block": ("storage",), "net": ("network", "modules")}


def test_boot_events_nest():
    p = parse({"updates": {"storage": "never", "network": "boot-change", "modules": {"when": ["boot-new-instance"]}}})
    assert [p.allows("network", e) for e in ("boot-new-instance", "boot-change", "boot")] == [True, True, False]
    assert [p.allows("modules", e) for e in ("boot-new-instance", "boot-change", "boot")] == [True, False, False]
    assert not any(p.allows("storage", e) for e in EVENTS)
    every_boot = parse({"updates": {"network": {"when": ["boot"]}}})
    assert all(every_boot.allows("network", e) for e in ("boot-new-instance", "boot-change", "boot"))


def test_hotplug_enabled_by_user_data_or_override():
    p = parse({"updates": {"network": {"when": ["boot-new-instance", "hotplug"]}}})
    assert p.hotplug_enabled("net")
    assert not parse({}, {"block": False}).hotplug_enabled("block")
    assert parse({}, {"net": True}).hotplug_enabled("net")
    assert not parse({"updates": {"storage": "always"}}, {"block": False}).allows("storage", "hotplug")


def test_executable_handlers_enable_their_subsystem():
    p = parse({"updates": {"storage": "never"}, "update-handlers": {"hotplug": {"block": ["/usr/local/bin/h"]}}})
    assert p.hotplug_enabled("block") and p.hotplug["block"] == ("/usr/local/bin/h",)
    assert not parse({"update-handlers": {"hotplug": {"block": ["/x"]}}}, {"block": False}).hotplug_enabled("block")


def test_watchurl_handlers():
    p = parse({"update-handlers": {"watchurl": {"http://h/changes": ["/bin/true", "storage"]}}})
    assert p.watchurl == {"datasource": ("network", "modules", "storage"),
                          "http://h/changes": ("/bin/true", "storage")}


@pytest.mark.parametrize("cfg,path", [
    ({"updates": []}, "$.updates"),
    ({"updates": {"disks": "always"}}, "$.updates.disks"),
    ({"updates": {"network": "sometimes"}}, "$.updates.network"),
    ({"updates": {"network": {"when": ["boot", "hotplg"]}}}, "$.updates.network.when[1]"),
    ({"updates": {"network": {"when": "boot", "x": 1}}}, "$.updates.network"),
    ({"update-handlers": {"hotplug": {"usb": ["storage"]}}}, "$.update-handlers.hotplug.usb"),
    ({"update-handlers": {"hotplug": {"block": ["format-it"]}}}, "$.update-handlers.hotplug.block[0]"),
    ({"update-handlers": {"watchurl": {"ftp://x": ["storage"]}}}, "$.update-handlers.watchurl.ftp://x"),
    ({"update-handlers": {"other": {}}}, "$.update-handlers"),
])
def test_errors_name_the_path(cfg, path):
    with pytest.raises(PolicyError) as e:
        parse(cfg)
    assert str(e.value).startswith(path + ":") or str(e.value).startswith(path + " ")


@given(st.dictionaries(st.sampled_from(["storage", "network", "modules"]),
                       st.one_of(st.sampled_from(sorted(SHORTHANDS)),
                                 st.lists(st.sampled_from(EVENTS)).map(lambda w: {"when": w}))))
def test_parse_is_total_over_valid_input_and_when_lists_are_literal(updates):
    p = parse({"updates": updates})
    assert isinstance(p, Policy)
    for scope, value in updates.items():
        want = set(SHORTHANDS[value]) if isinstance(value, str) else set(value["when"])
        assert p.when[scope] == want
        for ev in ("hotplug", "metadata-change", "user-request"):
            assert p.allows(scope, ev) == (ev in want)


def test_boot_event():
    assert boot_event(True, False) == "boot-new-instance" and boot_event(True, True) == "boot-new-instance"
    assert boot_event(False, True) == "boot-change" and boot_event(False, False) == "boot"
