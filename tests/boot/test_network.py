"""The network module on temp roots: rendered files read back, re-runs, renderer choice, bring-up in a netns."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.boot.helpers import bp, isolated_cfg, nocloud_seed, reboot

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "network"
ONLY_NETWORK = "init_modules: []\nconfig_modules: []\n"


def make_target(root: Path, kind: str) -> None:
    if kind == "eni":
        (root / "usr/sbin").mkdir(parents=True, exist_ok=True)
        (root / "usr/sbin/ifup").write_text("")
        (root / "etc/network").mkdir(parents=True, exist_ok=True)
        (root / "etc/network/interfaces").write_text("auto lo\niface lo inet loopback\n"
                                                     "source /etc/network/interfaces.d/*\n")
    elif kind == "networkd":
        wants = root / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        (wants / "systemd-networkd.service").symlink_to("/lib/systemd/system/systemd-networkd.service")
    elif kind == "netplan":
        (root / "usr/sbin").mkdir(parents=True, exist_ok=True)
        (root / "usr/sbin/netplan").write_text("")


def ours(root: Path) -> dict[str, str]:
    pats = ("etc/systemd/network/10-blockprov-*", "etc/systemd/resolved.conf.d/50-blockprov.conf",
            "etc/network/interfaces.d/50-blockprov.cfg", "etc/netplan/50-blockprov.yaml")
    return {p.relative_to(root).as_posix(): p.read_text() for pat in pats for p in root.glob(pat)}


def golden(case: str, renderer: str) -> dict[str, str]:
    d = GOLDEN / case / renderer
    return {p.relative_to(d).as_posix(): p.read_text() for p in d.rglob("*") if p.is_file()}


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    isolated_cfg(r, ONLY_NETWORK, full=True)
    return r


def test_v1_for_ifupdown_then_unchanged_then_switch_to_networkd(root):
    make_target(root, "eni")
    nocloud_seed(root, "instance-id: i-1\n", network_config=(GOLDEN / "v1-multi-nic/input.yaml").read_text())
    res = bp(root, "boot", check=True)
    assert ours(root) == golden("v1-multi-nic", "eni")
    assert "rendered for eni: 2 written, 0 removed" in (root / "var/log/blockprov/output.log").read_text()
    before = {p: (root / p).stat().st_mtime_ns for p in ours(root)}
    reboot(root)
    bp(root, "boot", check=True)
    assert {p: (root / p).stat().st_mtime_ns for p in ours(root)} == before  # nothing rewritten
    assert "rendered for eni: 0 written, 0 removed, 2 unchanged" in (root / "var/log/blockprov/output.log").read_text()
    # the image changes hands: ifupdown removed, networkd enabled -> the ENI file goes, networkd's files come
    (root / "usr/sbin/ifup").unlink()
    make_target(root, "networkd")
    reboot(root)
    bp(root, "boot", check=True)
    assert ours(root) == golden("v1-multi-nic", "networkd")
    state = json.loads((root / "var/lib/blockprov/data/network.json").read_text())
    assert state["renderer"] == "networkd" and sorted(state["interfaces"]) == ["eth0", "eth1", "eth1.100"]
    assert res.returncode in (0, 3)


def test_netplan_target_gets_v2_passed_through(root):
    make_target(root, "netplan")
    make_target(root, "eni")  # netplan comes first in the default order
    nocloud_seed(root, "instance-id: i-1\n", network_config=(GOLDEN / "v2-passthrough/input.yaml").read_text())
    bp(root, "boot", check=True)
    assert ours(root) == golden("v2-passthrough", "netplan")
    assert (root / "etc/netplan/50-blockprov.yaml").stat().st_mode & 0o777 == 0o600


def test_renderer_order_from_system_config(root):
    make_target(root, "netplan")
    make_target(root, "networkd")
    isolated_cfg(root, ONLY_NETWORK + "system_info: {network: {renderers: [networkd, netplan]}}\n", full=True)
    nocloud_seed(root, "instance-id: i-1\n", network_config=(GOLDEN / "ovirt/input.yaml").read_text())
    bp(root, "boot", check=True)
    assert ours(root) == golden("ovirt", "networkd")


def test_system_config_disables_or_overrides_the_datasource(root):
    make_target(root, "networkd")
    nocloud_seed(root, "instance-id: i-1\n", network_config=(GOLDEN / "ovirt/input.yaml").read_text())
    isolated_cfg(root, ONLY_NETWORK + "network: {config: disabled}\n", full=True)
    bp(root, "boot", check=True)
    assert ours(root) == {}
    isolated_cfg(root, ONLY_NETWORK + "network: {version: 2, ethernets: {eth9: {dhcp4: true}}}\n", full=True)
    reboot(root)
    bp(root, "boot", check=True)
    assert list(ours(root)) == ["etc/systemd/network/10-blockprov-eth9.network"]


def test_fallback_is_dhcp_on_the_first_physical_nic(root):
    make_target(root, "networkd")
    for name, mac, physical in (("ens4", "52:54:00:00:00:04", True), ("ens3", "52:54:00:00:00:03", True),
                                ("docker0", "02:42:00:00:00:01", False)):
        d = root / "sys/class/net" / name
        d.mkdir(parents=True)
        (d / "address").write_text(mac + "\n")
        if physical:
            (d / "device").mkdir()
    nocloud_seed(root, "instance-id: i-1\n")
    bp(root, "boot", check=True)
    files = ours(root)
    assert list(files) == ["etc/systemd/network/10-blockprov-ens3.network"]
    assert "Name=ens3" in files["etc/systemd/network/10-blockprov-ens3.network"]
    assert "DHCP=ipv4" in files["etc/systemd/network/10-blockprov-ens3.network"]


def test_a_bad_item_is_named_the_rest_is_rendered_and_the_primary_nic_gets_dhcp(root):
    """issue 20: one odd item never leaves an instance without network. The bad address is named by its JSON path
    (a warning: the boot goes on), the primary NIC eth0 falls back to DHCP and eth1 is rendered as given."""
    make_target(root, "eni")
    nocloud_seed(root, "instance-id: i-1\n",
                 network_config="version: 1\nconfig:\n - {type: physical, name: eth0, subnets: [{type: static, "
                                "address: 10.0.0.300/24}]}\n"
                                " - {type: physical, name: eth1, subnets: [{type: static, address: 10.1.0.5/24}]}\n")
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    assert "$.config[0].subnets[0].address: '10.0.0.300/24' is not an address" in res.stderr
    text = ours(root)["etc/network/interfaces.d/50-blockprov.cfg"]
    assert "iface eth0 inet dhcp" in text and "address 10.1.0.5/24" in text
    status = json.loads(bp(root, "status", "--json").stdout)
    assert "10.0.0.300/24" in json.dumps(status)


def test_a_document_that_is_no_network_config_still_gives_dhcp(root):
    make_target(root, "eni")
    (root / "sys/class/net/ens3").mkdir(parents=True)
    (root / "sys/class/net/ens3/address").write_text("52:54:00:00:00:03\n")
    (root / "sys/class/net/ens3/device").mkdir()
    nocloud_seed(root, "instance-id: i-1\n", network_config="version: 7\n")
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    assert "'v7' is not v1, v2, openstack or ovirt" in res.stderr
    assert "iface ens3 inet dhcp" in ours(root)["etc/network/interfaces.d/50-blockprov.cfg"]


def test_no_renderer_is_a_warning_not_a_guess(root):
    nocloud_seed(root, "instance-id: i-1\n", network_config="version: 2\nethernets: {eth0: {dhcp4: true}}\n")
    res = bp(root, "boot")
    assert res.returncode in (0, 3) and "no network renderer in the target" in res.stderr
    assert ours(root) == {}


def _can_unshare_net() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip is not installed"
    r = subprocess.run(["unshare", "-n", "ip", "link", "add", "t0", "type", "veth", "peer", "name", "t1"],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else f"cannot create a network namespace with veth links: {r.stderr.strip()}"


def test_bring_up_with_ip_applies_addresses_routes_and_policy_rules_in_a_netns(root):
    why = _can_unshare_net()
    if why:
        pytest.skip(why)
    make_target(root, "networkd")
    isolated_cfg(root, ONLY_NETWORK + "system_info: {network: {bring_up: true, activator: ip}}\n", full=True)
    nocloud_seed(root, "instance-id: i-1\n", network_config=(
        "version: 2\nethernets:\n"
        "  eth0: {addresses: [192.0.2.5/24, '2001:db8::5/64'], routes: [{to: default, via: 192.0.2.1}]}\n"
        "  eth1: {addresses: [198.51.100.7/24], routes: [{to: default, via: 198.51.100.1}]}\n"))
    script = (
        "set -e\n"
        "ip link add eth0 type veth peer name p0 && ip link add eth1 type veth peer name p1\n"
        "ip link set p0 up && ip link set p1 up\n"
        f"{sys.executable} -m blockprov boot --root {root} >/dev/null 2>&1 || echo BOOT-FAILED\n"
        # a second run must not stack duplicate rules
        f"rm -rf {root}/run && {sys.executable} -m blockprov boot --root {root} >/dev/null 2>&1\n"
        "echo ADDR; ip -j addr show\necho RULE; ip -j rule show\n"
        "echo MAIN; ip -j route show table main\necho T101; ip -j route show table 101\n")
    out = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "BOOT-FAILED" not in out.stdout, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    parts = {lines[i]: lines[i + 1] for i in range(len(lines) - 1) if lines[i] in ("ADDR", "RULE", "MAIN", "T101")}
    addrs = {a["ifname"]: {f"{x['local']}/{x['prefixlen']}" for x in a["addr_info"] if x.get("scope") == "global"}
             for a in json.loads(parts["ADDR"])}
    assert addrs["eth0"] == {"192.0.2.5/24", "2001:db8::5/64"} and addrs["eth1"] == {"198.51.100.7/24"}
    rules = [r for r in json.loads(parts["RULE"]) if r.get("table") == "101"]
    assert [(r["priority"], r["src"]) for r in rules] == [(1001, "198.51.100.7")]
    main_defaults = [r for r in json.loads(parts["MAIN"]) if r["dst"] == "default"]
    assert [(r["gateway"], r["dev"]) for r in main_defaults] == [("192.0.2.1", "eth0")]
    t101 = {(r["dst"], r.get("gateway")) for r in json.loads(parts["T101"])}
    assert t101 == {("default", "198.51.100.1"), ("198.51.100.0/24", None)}
