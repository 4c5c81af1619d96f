"""Engine renderers and definition checks (pure): network forms round-trip through the agent's parser."""
import ipaddress
import json
from dataclasses import asdict

from hypothesis import given, settings
from hypothesis import strategies as st

from blockprov.net.ovirt import from_ovirt
from blockprov.net.parse import parse
from blockprov_engine import definition, render

v4 = st.integers(1, 2**24 - 2).map(lambda n: str(ipaddress.IPv4Address((10 << 24) + n)))
v6 = st.integers(1, 2**32).map(lambda n: str(ipaddress.IPv6Address((0x20010db8 << 96) + n)))


@st.composite
def nic(draw, i):
    n = {"name": f"eth{i}"}
    if draw(st.booleans()):
        n["mac"] = "52:54:00:00:00:%02x" % i
    if draw(st.booleans()):
        n["mtu"] = draw(st.integers(1280, 9000))
    if draw(st.booleans()):
        n["on_boot"] = draw(st.booleans())
    proto = draw(st.sampled_from(["static", "dhcp", "none", None]))
    if proto:
        n["boot_protocol"] = proto
    if proto == "static":
        n["address"] = draw(v4)
        if draw(st.booleans()):
            n["prefix"] = draw(st.integers(8, 30))
        else:
            n["netmask"] = str(ipaddress.IPv4Network(f"0.0.0.0/{draw(st.integers(8, 30))}").netmask)
        if draw(st.booleans()):
            n["gateway"] = draw(v4)
    p6 = draw(st.sampled_from(["static", "dhcp", "autoconf", "none", None]))
    if p6:
        n["ipv6_boot_protocol"] = p6
    if p6 == "static":
        n["ipv6_address"] = draw(v6)
        n["ipv6_prefix"] = draw(st.integers(48, 128))
        if draw(st.booleans()):
            n["ipv6_gateway"] = draw(v6)
    return n


@st.composite
def definitions(draw):
    count = draw(st.integers(0, 4))
    d = {"id": "vm", "hostname": "vm", "nics": [draw(nic(i)) for i in range(count)]}
    servers = draw(st.lists(st.one_of(v4, v6), max_size=3, unique=True))
    search = draw(st.lists(st.sampled_from(["a.example", "b.example", "example.org"]), max_size=3, unique=True))
    if servers or search:
        d["dns"] = {"servers": servers, "search": search}
    return d


def meaning(netcfg) -> dict:
    """Global and per-interface DNS differ by form only; the parser's source tag is not meaning."""
    d = asdict(netcfg)
    d.pop("source")
    return d


@settings(max_examples=150, deadline=None)
@given(definitions())
def test_network_forms_mean_what_the_definition_says(d):
    assert definition.validate(d) == []
    want = meaning(from_ovirt({"nics": d["nics"], "dns_servers": (d.get("dns") or {}).get("servers", []),
                               "dns_search": (d.get("dns") or {}).get("search", [])}, {}))
    via_openstack = parse(json.loads(json.dumps(render.network_data(d))), "openstack")
    assert meaning(via_openstack) == want
    via_v1 = parse(json.loads(json.dumps(render.network_v1(d))))
    assert meaning(via_v1) == want


def test_stored_form_has_no_plain_password_and_keeps_given_hashes():
    d = {"hostname": "h", "users": [{"name": "a", "password": "pw-a"}, {"name": "b", "hashed_password": "$6$s$h"}]}
    out = definition.stored(d, lambda p: f"$6$salt${p[::-1]}")
    assert out["users"] == [{"name": "a", "hashed_password": "$6$salt$a-wp"}, {"name": "b", "hashed_password": "$6$s$h"}]
    assert "pw-a" not in json.dumps(out) and out["name"] == "h" and len(out["id"]) == 36
    assert d["users"][0]["password"] == "pw-a"  # the caller's document is not changed


def test_every_problem_is_reported_at_once():
    d = {"hostname": "h", "dns": {"servers": ["x", "1.2.3.4", "y"]}, "users": [{"name": "u"}, {"name": "u"}],
         "files": [{"path": "/a", "content": "!!", "encoding": "base64"}]}
    paths = [p.path for p in definition.validate(d)]
    assert paths == ["$.dns.servers[0]", "$.dns.servers[2]", "$.users[1].name", "$.files[0].content"]


def test_user_data_without_custom_part_is_plain_cloud_config():
    ud = render.user_data({"id": "x", "hostname": "x", "timezone": "UTC"}).decode()
    assert ud.startswith("#cloud-config\n") and json.loads(ud.split("\n", 1)[1]) == {"timezone": "UTC"}
