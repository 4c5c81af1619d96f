"""The examples in docs/ are run, so the reference cannot drift from the code."""
import re
from pathlib import Path

from blockprov.storage import loader, validate
from blockprov.storage.model import Model
from blockprov.storage.plan import blank_inventory, plan

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_storage_reference_example_validates_and_plans():
    text = (DOCS / "storage-config.md").read_text()
    blocks = re.findall(r"#+ Example.*?```yaml\n(.*?)```", text, re.S)
    assert len(blocks) >= 2
    for block in blocks:
        l = loader.parse_text(block)
        assert validate.errors(validate.validate(l.storage, l.prefix)) == []
        m = Model.build(l.storage, l.prefix)
        p = plan(m, blank_inventory(m))
        assert {i.status for i in p.items} == {"create"}, [(i.id, i.status, i.reason) for i in p.items]


def test_every_validation_code_is_documented():
    text = (DOCS / "storage-config.md").read_text()
    src = (Path(validate.__file__)).read_text()
    for code in ("duplicate-id", "dangling-ref", "wrong-ref-type", "cycle", "wipe-preserve", "raid-spares",
                 "label-too-long", "overlapping-partitions", "duplicate-mount", "bad-size"):
        assert f"`{code}`" in text and f'"{code}"' in src


def _yaml_block(doc: str, heading: str) -> str:
    text = (DOCS / doc).read_text()
    return re.search(rf"{re.escape(heading)}.*?```yaml\n(.*?)```", text, re.S).group(1)


def test_boot_system_config_example_loads(tmp_path):
    from blockprov.boot import sysconfig
    from blockprov.paths import Paths

    paths = Paths(tmp_path)
    paths.sysconfig.parent.mkdir(parents=True)
    paths.sysconfig.write_text(_yaml_block("boot.md", "## System config"))
    cfg = sysconfig.load(paths)
    assert [e.name for e in sysconfig.module_entries(cfg, "modules-final")] == [
        "scripts_vendor", "scripts_per_boot", "scripts_user"]
    assert cfg["reporting"]["engine"]["type"] == "webhook"


def test_boot_defaults_documented_match_code():
    from blockprov.boot import sysconfig

    text = " ".join((DOCS / "boot.md").read_text().split())
    assert f"`datasource_list: [{', '.join(sysconfig.DEFAULTS['datasource_list'])}]`" in text
    for key in ("init_local_modules", "init_modules", "config_modules", "final_modules"):
        assert f"`{key}: [{', '.join(sysconfig.DEFAULTS[key])}]`" in text


def test_datasources_nocloud_example_builds():
    from blockprov.sources import nocloud

    sd = nocloud.build({"/meta-data": _yaml_block("datasources.md", "## NoCloud").encode()}, "doc", {})
    assert (sd.instance_id, sd.local_hostname) == ("iid-web-01", "web-01")


def test_datasources_openstack_settings_are_the_ones_read():
    from blockprov.sources import http

    block = _yaml_block("datasources.md", "## OpenStack")
    from blockprov.boot.userdata import load_yaml

    ds = load_yaml(block)["datasource"]["OpenStack"]
    f = http.from_cfg(ds)
    assert (f.timeout, f.retries, f.backoff) == (ds["timeout"], ds["retries"], ds["backoff"])


def test_modules_write_files_example_writes(tmp_path):
    import os
    from blockprov.modules._files import write_all
    from blockprov.paths import Paths
    from blockprov.boot.userdata import load_yaml

    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1500:1500::/home/app:/bin/sh\n")
    (tmp_path / "etc/group").write_text("root:x:0:\napp:x:1500:\n")
    entries = load_yaml(_yaml_block("modules.md", "## write_files"))["write_files"]
    write_all(Paths(tmp_path), entries, deferred=False)
    write_all(Paths(tmp_path), entries, deferred=True)
    assert (tmp_path / "etc/app/blob").read_bytes() == b"hello\n" and (tmp_path / "etc/motd").read_text() == "welcome\n"
    st = os.stat(tmp_path / "etc/app/app.conf")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1500, 1500, 0o640)


def test_modules_users_example_normalizes():
    from blockprov.modules import users_groups
    from blockprov.boot.userdata import load_yaml

    cfg = load_yaml(_yaml_block("modules.md", "## users_groups"))
    cfg["default_user"] = {"name": "debian"}
    users = users_groups.normalize_users(cfg)
    assert [u["name"] for u in users] == ["debian", "alice", "svc"]
    assert users_groups.normalize_groups(cfg) == {"admins": [], "ops": ["alice"]}


def test_every_module_is_documented():
    from blockprov.modules import known_modules

    text = (DOCS / "modules.md").read_text()
    for name in known_modules():
        assert f"`{name}`" in text or name.startswith("scripts_"), name


def test_network_examples_render_as_documented():
    from blockprov.net import networkd, parse, policy

    ovirt = parse.parse(__import__("yaml").safe_load(_yaml_block("network.md", "**oVirt NIC settings**")))
    assert [i.name for i in ovirt.interfaces] == ["eth0", "eth1"] and ovirt.dns == ["192.168.122.1", "8.8.8.8"]
    net = policy.apply(parse.parse(__import__("yaml").safe_load(_yaml_block("network.md", "## Example"))))
    text = (DOCS / "network.md").read_text()
    shown = re.search(r"```ini\n# 10-blockprov-eth1.network\n(.*?)```", text, re.S).group(1)
    rendered = networkd.render(net)["etc/systemd/network/10-blockprov-eth1.network"]
    assert rendered.split("\n", 2)[2] == shown  # without the header comment and its blank line


def test_disks_example_translates_to_a_valid_storage_config():
    from blockprov.storage import cloudinit
    from blockprov.storage.inventory import Device, Inventory
    from blockprov.boot.userdata import load_yaml

    cfg = load_yaml(_yaml_block("modules.md", "## disks: disk_setup"))
    inv = Inventory(devices={"/dev/vdc": Device("/dev/vdc", fstype="xfs", label="logs", fsuuid="u-1")})
    t = cloudinit.translate(cfg, inv)
    assert validate.errors(validate.validate(t.storage, "$")) == [] and t.notes == []
    assert [i["type"] for i in t.storage["config"]].count("mount") == 3
    assert cfg["swap"] == {"filename": "/swap.img", "size": "auto", "maxsize": "2G"}


def test_hotplug_policy_example_parses_as_documented():
    import yaml

    from blockprov.events import policy

    cfg = yaml.safe_load(_yaml_block("hotplug.md", "## Update policies"))
    p = policy.parse(cfg)
    assert all(p.allows("storage", e) for e in policy.EVENTS)
    assert p.allows("network", "hotplug") and not p.allows("network", "boot")
    assert p.hotplug["block"] == ("storage", "/usr/local/sbin/on-disk-event")
    assert p.watchurl["http://config.internal/v1/changes"] == ("/usr/local/sbin/on-change",)


def test_hotplug_defaults_documented_match_code():
    from blockprov.events import policy

    text = (DOCS / "hotplug.md").read_text()
    assert "| `network` | `boot-new-instance`, `boot`, `metadata-change`, `user-request` |" in text
    assert policy.DEFAULT_WHEN["network"] == ("boot-new-instance", "boot", "metadata-change", "user-request")
    assert policy.DEFAULT_WHEN["modules"] == ("boot-new-instance", "metadata-change", "user-request")
    assert "| `modules` | `boot-new-instance`, `metadata-change`, `user-request` |" in text
    for name, events in policy.SHORTHANDS.items():
        shown = "every event" if name == "always" else f"`[{', '.join(events)}]`"
        assert name == "always" or f"`{name}` = {shown}" in " ".join(text.split())


def test_rerunnable_table_matches_the_modules():
    from blockprov import modules

    text = (DOCS / "modules.md").read_text()
    row = re.search(r"\| re-runnable \| not re-runnable \|\n\|---\|---\|\n\| (.*?) \| (.*?) \|", text)
    documented = {n.strip() for n in row.group(1).split(",")}
    assert documented == {n for n in modules.known_modules() if modules.meta(n).rerunnable}


def test_engine_definition_example_is_the_tested_fixture_and_valid():
    import yaml

    from blockprov_engine import definition

    text = (DOCS / "engine.md").read_text()
    block = re.search(r"Example \(`tests/fixtures/engine/web1.yaml`.*?```yaml\n(.*?)```", text, re.S).group(1)
    fixture = (DOCS.parent / "tests/fixtures/engine/web1.yaml").read_text()
    assert block == fixture
    assert definition.validate(yaml.safe_load(block)) == []


def test_engine_routes_table_lists_every_route():
    from blockprov_engine.server import Engine
    from blockprov_engine.store import SQLiteStore

    text = (DOCS / "engine.md").read_text()
    routes = {(r.method, r.resource.canonical) for r in Engine(SQLiteStore(":memory:"), tokens=["x" * 16]).app()
              .router.routes() if r.method != "HEAD"}
    for method, path in routes:
        assert f"`{method} {path}`" in text or f"`{method} {path}`," in text, (method, path)


def test_engine_agent_config_example_sends_the_header():
    import yaml

    from blockprov.sources.http import from_cfg

    text = (DOCS / "engine.md").read_text()
    cfg = yaml.safe_load(re.search(r"The agent sends the\s+headers?.*?```yaml\n(.*?)```", text, re.S).group(1))
    iid = "7f1c2a9e-1111-4c3b-9d7a-0a1b2c3d4e5f"
    headers = from_cfg(cfg["datasource"]["OpenStack"]).headers
    assert headers["Blockprov-Instance-Id"] == iid and len(headers["Blockprov-Instance-Id-Signature"]) == 64
    assert cfg["reporting"]["engine"]["headers"] == headers


def test_engine_commands_are_documented():
    from blockprov_engine.cli import _parser

    text = (DOCS / "engine.md").read_text()
    sub = next(a for a in _parser()._actions if a.dest == "cmd")
    for name in sub.choices:
        assert re.search(rf"^\| (`[a-z-]+[^`]*`, )*`{name}[ `]", text, re.M), name


def test_architecture_predicts_every_file():
    """issue 22: docs/architecture.md names every module of the agent where a newcomer would look for it."""
    doc = (ROOT / "docs/architecture.md").read_text()
    pkg = ROOT / "blockprov"
    missing = []
    for f in sorted(pkg.rglob("*.py")):
        rel = f.relative_to(pkg).as_posix()
        if f.name == "__init__.py" or "__pycache__" in rel:
            continue
        top = rel.split("/", 1)[0]
        if top == "modules":  # one file per config module: the row says so, docs/modules.md lists them
            continue
        if top in ("net", "sources"):  # the package row names each of its modules
            if f.stem.lstrip("_") not in doc:
                missing.append(rel)
            continue
        if f"`{rel}`" not in doc:
            missing.append(rel)
    assert not missing, missing
