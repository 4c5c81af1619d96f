"""The settings a network configuration carries, read back from what the real tools accept.

Two readers, both independent of blockprov's model: one for systemd-networkd files (blockprov's own, or the
ones ``netplan generate`` writes from a netplan YAML), one for ifupdown files (checked by ``ifquery``). Each
returns ``{interface name: {setting: value}}`` with values normalised (times in ms, default routes as
0.0.0.0/0 and ::/0, addresses and routes as sorted lists), so two configurations that mean the same compare
equal whatever their spelling.
"""
from __future__ import annotations

import ipaddress
import re
import shlex
import subprocess
from pathlib import Path

import yaml


def unit_sections(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """A systemd unit-style file as (section, [(key, value)]) in order; sections may repeat ([Route])."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            out.append((line[1:-1], []))
        elif "=" in line and out:
            k, v = line.split("=", 1)
            out[-1][1].append((k.strip(), v.strip()))
    return out


def ms(value: str) -> int:
    """A systemd time span (``100ms``, ``15``, ``2s``) in milliseconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|msec|s|sec|min)?", value.strip())
    if not m:
        return value  # type: ignore[return-value]
    n, unit = float(m.group(1)), m.group(2) or "s"
    return int(n * {"ms": 1, "msec": 1, "s": 1000, "sec": 1000, "min": 60000}[unit])


def _bool(v: str) -> bool:
    return v.lower() in ("yes", "true", "1", "on")


def _route(dest: str | None, via: str | None, metric: str | None) -> tuple:
    fam6 = (via and ":" in via) or (dest and ":" in dest)
    if dest in (None, "", "default"):
        dest = "::/0" if fam6 else "0.0.0.0/0"
    dest = ipaddress.ip_network(dest, strict=False).with_prefixlen
    via = str(ipaddress.ip_address(via)) if via else ""
    return (dest, via, int(metric) if metric not in (None, "") else None)


BOND_TIME = {"MIIMonitorSec", "UpDelaySec", "DownDelaySec", "ARPIntervalSec", "LearnPacketIntervalSec"}
BRIDGE_TIME = {"ForwardDelaySec", "HelloTimeSec", "MaxAgeSec", "AgeingTimeSec"}


def networkd_settings(files: dict[str, str]) -> dict[str, dict]:
    links: dict[str, dict] = {}  # mac -> .link settings
    netdevs: dict[str, dict] = {}
    networks = []
    for name, text in sorted(files.items()):
        secs = unit_sections(text)
        if name.endswith(".link"):
            match = dict(next((kv for s, kv in secs if s == "Match"), []))
            link = dict(next((kv for s, kv in secs if s == "Link"), []))
            mac = (match.get("MACAddress") or match.get("PermanentMACAddress") or "").lower()
            links[mac or "name:" + match.get("OriginalName", "")] = link
        elif name.endswith(".netdev"):
            nd = {}
            for s, kv in secs:
                for k, v in kv:
                    nd.setdefault(s, {})[k] = v
            netdevs[nd["NetDev"]["Name"]] = nd
        elif name.endswith(".network"):
            networks.append(secs)
    out: dict[str, dict] = {}
    ports: dict[str, dict] = {}
    for secs in networks:
        match = dict(next((kv for s, kv in secs if s == "Match"), []))
        mac = (match.get("MACAddress") or match.get("PermanentMACAddress") or "").lower() or None
        name = match.get("Name") or (links.get(mac or "", {}).get("Name")) or mac
        st: dict = {"addresses": [], "routes": [], "dns": [], "domains": [], "vlans": []}
        if mac:
            st["match_mac"] = mac
        for s, kv in secs:
            d = dict(kv)
            if s == "Link":
                if "MTUBytes" in d:
                    st["mtu"] = int(d["MTUBytes"])
                if "MACAddress" in d:
                    st["mac"] = d["MACAddress"].lower()
                if d.get("RequiredForOnline") == "no":
                    st["optional"] = True
                if "ActivationPolicy" in d:
                    st["activation"] = d["ActivationPolicy"]
            elif s == "Network":
                for k, v in kv:
                    if k == "Address":
                        st["addresses"].append(ipaddress.ip_interface(v).with_prefixlen)
                    elif k == "Gateway":
                        st["routes"].append(_route(None, v, None))
                    elif k == "DNS":
                        st["dns"] += [str(ipaddress.ip_address(a)) for a in v.split()]
                    elif k == "Domains":
                        st["domains"] += v.split()
                    elif k == "DHCP":
                        st["dhcp"] = {"yes": "both", "true": "both", "no": "none", "ipv4": "ipv4", "ipv6": "ipv6"}[v]
                    elif k == "IPv6AcceptRA":
                        st["accept_ra"] = _bool(v)
                    elif k == "IPv6MTUBytes":
                        st["ipv6_mtu"] = int(v)
                    elif k in ("Bond", "Bridge"):
                        st["master"] = v
                    elif k == "VLAN":
                        st["vlans"].append(v)
                    elif k == "PrimarySlave" and _bool(v):
                        st["primary_port"] = True
            elif s == "Route":
                st["routes"].append(_route(d.get("Destination"), d.get("Gateway"), d.get("Metric")))
            elif s == "Bridge":  # a bridge port's settings
                ports[name] = {k: int(v) for k, v in kv}
            elif s in ("DHCP", "DHCPv4") and "RouteMetric" in d:
                st["dhcp4_route_metric"] = int(d["RouteMetric"])
        st.setdefault("dhcp", "none")
        link = links.get(mac or f"name:{name}", {})
        if "MTUBytes" in link:
            st["mtu"] = int(link["MTUBytes"])
        nd = netdevs.get(name)
        if nd:
            st["kind"] = nd["NetDev"]["Kind"]
            if "MTUBytes" in nd["NetDev"]:
                st["mtu"] = int(nd["NetDev"]["MTUBytes"])
            if "MACAddress" in nd["NetDev"]:
                st["mac"] = nd["NetDev"]["MACAddress"].lower()
            if "VLAN" in nd:
                st["vlan_id"] = int(nd["VLAN"]["Id"])
            if "Bond" in nd:
                st["bond"] = {k: ms(v) if k in BOND_TIME else v for k, v in nd["Bond"].items()}
            if "Bridge" in nd:
                st["bridge"] = {k: ms(v) if k in BRIDGE_TIME else (_bool(v) if k == "STP" else v)
                                for k, v in nd["Bridge"].items()}
        else:
            st["kind"] = "physical"
        for k in ("addresses", "routes", "dns", "domains", "vlans"):
            st[k] = sorted(set(st[k]), key=str)
        out[name] = st
    for port, cfg in ports.items():
        if port in out:
            out[port]["port"] = cfg
    for name, st in out.items():  # the primary port is a bond setting in netplan's and blockprov's inputs
        if st.pop("primary_port", False) and st.get("master") in out:
            out[st["master"]].setdefault("bond", {})["Primary"] = name
    return out


class NetplanRejected(AssertionError):
    pass


def netplan_generate(doc_text: str, tmp: Path) -> dict[str, str]:
    """The networkd files ``netplan generate`` writes for a netplan YAML (the real tool as the oracle)."""
    root = tmp / f"netplan-{abs(hash(doc_text))}"
    (root / "etc/netplan").mkdir(parents=True, exist_ok=True)
    f = root / "etc/netplan/50-case.yaml"
    f.write_text(doc_text)
    f.chmod(0o600)
    res = subprocess.run(["netplan", "generate", "--root-dir", str(root)], capture_output=True, text=True)
    if res.returncode != 0:
        raise NetplanRejected(f"netplan generate rejected it: {res.stderr.strip()}\n{doc_text}")
    gen = root / "run/systemd/network"
    return {p.name: p.read_text() for p in sorted(gen.glob("*"))} if gen.exists() else {}


# -- ifupdown -----------------------------------------------------------------------------------------
ROUTE_IP = re.compile(r"ip (?:-6 |-4 |-family inet6 |-family inet )?route (?:add|replace) (\S+)(?: via (\S+))?"
                      r"(?: dev \S+)?(?: metric (\d+))?")
ROUTE_NET = re.compile(r"route add (?:-A inet6 )?(?:-net |-host )?(\S+)(?: netmask (\S+))? gw (\S+)(?: metric (\d+))?")
BOND_ENI = {"bond-mode": "Mode", "bond-miimon": "MIIMonitorSec", "bond-xmit-hash-policy": "TransmitHashPolicy",
            "bond-lacp-rate": "LACPTransmitRate", "bond-updelay": "UpDelaySec", "bond-downdelay": "DownDelaySec",
            "bond-arp-interval": "ARPIntervalSec", "bond-ad-select": "AdSelect", "bond-min-links": "MinLinks",
            "bond-num-grat-arp": "GratuitousARP", "bond-fail-over-mac": "FailOverMACPolicy",
            "bond-primary-reselect": "PrimaryReselectPolicy", "bond-primary": "Primary",
            "bond-arp-validate": "ARPValidate", "bond-arp-all-targets": "ARPAllTargets",
            "bond-all-slaves-active": "AllSlavesActive", "bond-packets-per-slave": "PacketsPerSlave",
            "bond-learn-packet-interval": "LearnPacketIntervalSec", "bond-arp-ip-target": "ARPIPTargets"}


def eni_stanzas(text: str) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    """(iface, family, method, [(option, value)]) for every ``iface`` stanza, with continuation lines joined."""
    out = []
    joined = re.sub(r"\\\n", "", text)
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "iface":
            out.append((words[1], words[2], words[3], []))
        elif words[0] in ("auto", "allow-hotplug", "source", "source-directory", "mapping"):
            continue
        elif out:
            out[-1][3].append((words[0], line[len(words[0]):].strip()))
    return out


def eni_settings(text: str, tmp: Path) -> dict[str, dict]:
    f = tmp / f"eni-{abs(hash(text))}"
    f.write_text(text)
    listed = subprocess.run(["ifquery", "-i", str(f), "--list", "--allow", "auto"], capture_output=True, text=True)
    assert listed.returncode == 0, f"ifquery rejected it: {listed.stderr}\n{text}"
    out: dict[str, dict] = {}
    for name, family, method, opts in eni_stanzas(text):
        if name == "lo":
            continue
        got = subprocess.run(["ifquery", "-i", str(f), name], capture_output=True, text=True)
        assert got.returncode == 0, got.stderr
        st = out.setdefault(name, {"addresses": [], "routes": [], "dns": [], "domains": [], "methods": []})
        st["methods"].append(f"{family} {method}")
        address = netmask = None
        for k, v in opts:
            # every option the stanza gives is one ifupdown reads back for this interface
            seen = v.split("/")[0] if k == "address" else v.split()[-1] if v else v
            assert f"{k}: " in got.stdout and seen in got.stdout or k in ("post-up", "pre-down", "up", "down"), \
                (k, v, got.stdout)
            k = k.replace("_", "-")
            if k == "address":
                address = v
            elif k == "netmask":
                netmask = v
            elif k == "gateway":
                st["routes"].append(_route(None, v, None))
            elif k in ("post-up", "up"):
                m = ROUTE_IP.search(v)
                n = ROUTE_NET.search(v)
                if m:
                    dest = m.group(1)
                    st["routes"].append(_route(None if dest == "default" else dest, m.group(2), m.group(3)))
                elif n:
                    dest = n.group(1) if not n.group(2) else f"{n.group(1)}/{n.group(2)}"
                    st["routes"].append(_route(None if dest == "default" else dest, n.group(3), n.group(4)))
            elif k == "dns-nameservers":
                st["dns"] += [str(ipaddress.ip_address(a)) for a in v.split()]
            elif k == "dns-search":
                st["domains"] += v.split()
            elif k == "mtu":
                st["ipv6_mtu" if family == "inet6" and "mtu" in st else "mtu"] = int(v)
            elif k == "hwaddress":
                st["mac"] = v.split()[-1].lower()
            elif k in BOND_ENI:
                st.setdefault("bond", {})[BOND_ENI[k]] = v
            elif k == "bond-master":
                st["master"] = v
            elif k == "bridge_ports":
                st["ports"] = sorted(v.split())
            elif k == "vlan-raw-device":
                st["link"] = v
            elif k == "accept-ra":
                st["accept_ra"] = v
            elif k == "dhcp" and family == "inet6":
                st["dhcpv6_with_ra"] = v
            elif k == "ethernet-wol":
                st["wakeonlan"] = v
            elif k == "bond-slaves" and v != "none":
                st["ports"] = sorted(v.split())
        if address:
            st["addresses"].append(ipaddress.ip_interface(f"{address}/{netmask}" if netmask and "/" not in address
                                                          else address).with_prefixlen)
    for name, st in list(out.items()):  # bond-slaves on the bond is bond-master on each port
        for port in st.get("ports", []) if "bond" in st else []:
            out.setdefault(port, {"addresses": [], "routes": [], "dns": [], "domains": [], "methods": []})
            out[port]["master"] = name
        if "bond" in st:
            st.pop("ports", None)
    for st in out.values():
        if st.get("master"):
            st.pop("bond", None)  # cloud-init repeats the bond's options on each port
        for k in ("addresses", "routes", "dns", "domains", "methods"):
            st[k] = sorted(set(st[k]), key=str)
    return out


def load_yaml(text: str):
    return yaml.safe_load(text)
