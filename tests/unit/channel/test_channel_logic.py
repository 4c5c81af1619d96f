"""The event channel's pure parts: the message format, channel names, settings, the bounded outbox, and the
vsock transport at the socket level (these machines have no vsock loopback)."""
import errno
import json
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blockprov.channel import transport
from blockprov.channel.message import Channels, Message, MessageError, decode, encode, event_suffix
from blockprov.channel.service import Outbox
from blockprov.channel.settings import SettingsError, from_config, parse_endpoint

SECRET = "s" * 32


def test_a_frame_round_trips_and_bad_messages_are_named_not_acted_on():
    ms = [Message("/blockprov/i/config/set/ntp", {"ntp": {"enabled": True}}, "id-1", "i")]
    got, bad = decode(encode(ms))
    assert got == ms and bad == []
    got, bad = decode(json.dumps([{"channel": "/x"}, {"nochannel": 1}, 7, {"channel": "/y", "data": []},
                                  {"channel": "/z", "id": 5}]))
    assert [m.channel for m in got] == ["/x"] and len(bad) == 4
    for frame in ("nope", '"a string"', "[" * 5000 + "]" * 5000, "x" * (2 << 20)):
        with pytest.raises(MessageError):
            decode(frame)


@given(st.text(max_size=200))
def test_decode_never_raises_anything_but_message_error(text):
    try:
        decode(text)
    except MessageError:
        pass


def test_channel_names_and_routes():
    c = Channels("/blockprov/", "i-1")
    assert c.of_event("modules-config/config-set_passwords") == "/blockprov/i-1/modules-config/set_passwords"
    assert c.of_event("init-local") == "/blockprov/i-1/init-local"
    assert event_suffix("/blockprov/i-1/hotplug/block") == "hotplug/block"
    assert c.route("/blockprov/i-1/config/set/set_passwords") == ("set", "set_passwords")
    assert c.route("/blockprov/i-1/config/get/network") == ("get", "network")
    for other in ("/blockprov/i-2/config/set/ntp", "/cloudinit/i-1/config/set/ntp", "/blockprov/i-1/config/set/",
                  "/blockprov/i-1/config/del/ntp", "/blockprov/i-1/config/set/../x", "/blockprov/i-1/config/set/A"):
        assert c.route(other) is None, other
    assert Channels("/cloudinit/", "i-1").route("/cloudinit/i-1/config/set/ntp") == ("set", "ntp")


@pytest.mark.parametrize("endpoint,kind,address", [
    ("unix:/run/mgmt.sock", "unix", "/run/mgmt.sock"), ("tcp://192.0.2.1:7000", "tcp", "192.0.2.1:7000"),
    ("tcp://[2001:db8::1]:7000", "tcp", "2001:db8::1:7000"), ("http://192.0.2.1:8775/v1/channel", "ws",
                                                                "ws://192.0.2.1:8775/v1/channel"),
    ("https://mgmt.example/v1/channel", "ws", "wss://mgmt.example/v1/channel"), ("vsock://2:9999", "vsock", "2:9999")])
def test_endpoints(endpoint, kind, address):
    ep = parse_endpoint(endpoint)
    assert (ep.kind, ep.address) == (kind, address)


@pytest.mark.parametrize("entry,where", [
    ({"endpoint": "ftp://x"}, "unknown scheme"), ({"endpoint": "unix:relative"}, "absolute path"),
    ({"endpoint": "vsock://host:1"}, "CID is a number"), ({"endpoint": "tcp://h"}, "HOST:PORT"),
    ({"endpoint": "unix:/x", "secret": "short"}, "reporting.m.secret"),
    ({"endpoint": "unix:/x", "secret": SECRET, "prefix": "/other/"}, "reporting.m.prefix"),
    ({"endpoint": "unix:/x", "secret": SECRET, "channels": "config/*"}, "reporting.m.channels"),
    ({"endpoint": "unix:/x", "secret": SECRET, "queue": 0}, "reporting.m.queue")])
def test_bad_settings_name_their_key(entry, where):
    with pytest.raises(SettingsError, match=where.replace(".", r"\.")):
        from_config({"reporting": {"m": {"type": "event-channel", **entry}}})


def test_settings_defaults_and_channel_patterns():
    s = from_config({"reporting": {"hook": {"type": "webhook", "endpoint": "http://x"},
                                   "m": {"type": "event-channel", "endpoint": "unix:/x", "secret": SECRET,
                                         "channels": ["config/set/set_passwords"]}}})
    assert s.prefix == "/blockprov/" and s.queue == 1000
    assert s.accepted("config/set/set_passwords") and not s.accepted("config/set/network")
    assert from_config({"reporting": {"hook": {"type": "webhook"}}}) is None


def test_the_outbox_is_bounded_and_counts_what_it_dropped():
    box = Outbox(3)
    for i in range(5):
        box.put(Message(f"/c/{i}"))
    assert box.dropped == 2 and [m.channel for m in box.take(0)] == ["/c/2", "/c/3", "/c/4"]
    box.put_back([Message("/a"), Message("/b")])
    box.put(Message("/c"))
    box.put(Message("/d"))
    assert [m.channel for m in box.take(0)] == ["/b", "/c", "/d"] and box.dropped == 3


def test_vsock_shares_the_stream_transport_and_fails_with_the_kernel_s_reason_here():
    """No /dev/vhost-vsock and no vsock loopback on these machines: the socket is made (AF_VSOCK), the
    connect fails, and the error names the endpoint. docs/event-channel.md says vsock is not proven end to end."""
    ep = parse_endpoint("vsock://1:9999")
    try:
        s = transport.stream_socket(ep)
    except OSError as exc:  # a kernel without vsock at all
        assert exc.errno in (errno.EAFNOSUPPORT, errno.EINVAL)
        return
    assert s.family == socket.AF_VSOCK and s.type == socket.SOCK_STREAM
    s.close()
    with pytest.raises(transport.Closed, match="vsock:1:9999"):
        transport.connect(ep, timeout=2)


def test_stream_frames_are_lines_and_a_closed_peer_is_closed():
    a, b = socket.socketpair()
    ca, cb = transport.StreamConn(a), transport.StreamConn(b)
    ca.send(encode([Message("/x", {"k": "v\nw"})]))
    assert decode(cb.recv(2))[0][0].data == {"k": "v\nw"}  # a newline inside a string is escaped by JSON
    assert cb.recv(0.05) is None
    ca.close()
    with pytest.raises(transport.Closed):
        cb.recv(2)
