"""The channel's settings from the ``reporting`` entry of type ``event-channel`` (pure).

::

    reporting:
      mgmt:
        type: event-channel
        endpoint: ws://192.0.2.1:8775/v1/channel   # unix:/PATH, tcp://HOST:PORT, http(s)://, ws(s)://, vsock://CID:PORT
        secret: 5d0bd8c6...                         # this instance's: the engine's signature of its id
        prefix: /blockprov/                         # or /cloudinit/
        channels: [config/set/set_passwords, config/set/network, config/get/*]   # what it accepts; default all
        queue: 1000                                 # events kept while disconnected (oldest dropped)
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from blockprov.channel.message import PREFIXES


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Endpoint:
    kind: str  # unix | tcp | ws | vsock
    address: str  # a path, HOST:PORT, a ws(s):// URL, or CID:PORT
    host: str | None = None
    port: int | None = None
    cid: int | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.address}"


@dataclass(frozen=True)
class ChannelSettings:
    endpoint: Endpoint
    secret: str
    prefix: str = "/blockprov/"
    accepts: tuple[str, ...] = ("config/set/*", "config/get/*")
    queue: int = 1000
    name: str = "channel"
    extra: dict = field(default_factory=dict)

    def accepted(self, suffix: str) -> bool:
        return any(fnmatch.fnmatchcase(suffix, pat) for pat in self.accepts)


def parse_endpoint(text: str) -> Endpoint:
    if not isinstance(text, str) or not text:
        raise SettingsError("endpoint: a string such as unix:/run/x.sock, tcp://HOST:PORT, ws://HOST/PATH, "
                            "vsock://CID:PORT")
    if text.startswith("unix:"):
        path = text[5:].removeprefix("//")
        if not path.startswith("/"):
            raise SettingsError(f"endpoint {text!r}: a unix socket needs an absolute path")
        return Endpoint("unix", path)
    u = urlsplit(text)
    if u.scheme in ("http", "https", "ws", "wss"):
        scheme = {"http": "ws", "https": "wss"}.get(u.scheme, u.scheme)
        if not u.hostname:
            raise SettingsError(f"endpoint {text!r}: no host")
        return Endpoint("ws", u._replace(scheme=scheme).geturl(), u.hostname, u.port or (443 if scheme == "wss" else 80))
    if u.scheme in ("tcp", "vsock"):
        try:
            port = u.port
        except ValueError:
            port = None
        if not u.hostname or not port:
            raise SettingsError(f"endpoint {text!r}: {u.scheme}:// needs HOST:PORT" if u.scheme == "tcp" else
                                f"endpoint {text!r}: vsock:// needs CID:PORT")
        if u.scheme == "vsock":
            if not u.hostname.isdigit():
                raise SettingsError(f"endpoint {text!r}: a vsock CID is a number (2: the host)")
            return Endpoint("vsock", f"{u.hostname}:{port}", cid=int(u.hostname), port=port)
        return Endpoint("tcp", f"{u.hostname}:{port}", u.hostname, port)
    raise SettingsError(f"endpoint {text!r}: unknown scheme (unix:, tcp://, http(s)://, ws(s)://, vsock://)")


def from_config(cfg: dict) -> ChannelSettings | None:
    """The first ``reporting`` entry of type ``event-channel``, or None when there is none."""
    rep = cfg.get("reporting") if isinstance(cfg.get("reporting"), dict) else {}
    for name, r in sorted(rep.items()):
        if not isinstance(r, dict) or r.get("type") != "event-channel":
            continue
        where = f"reporting.{name}"
        endpoint = parse_endpoint(r.get("endpoint"))
        secret = r.get("secret")
        if not isinstance(secret, str) or len(secret) < 16:
            raise SettingsError(f"{where}.secret: this instance's channel secret (16 characters or more) is needed")
        prefix = r.get("prefix", "/blockprov/")
        if prefix not in PREFIXES:
            raise SettingsError(f"{where}.prefix: one of {', '.join(PREFIXES)}")
        accepts = r.get("channels", ["config/set/*", "config/get/*"])
        if not isinstance(accepts, list) or not all(isinstance(c, str) and c for c in accepts):
            raise SettingsError(f"{where}.channels: a list of channel patterns such as config/set/set_passwords")
        queue = r.get("queue", 1000)
        if not isinstance(queue, int) or isinstance(queue, bool) or not 1 <= queue <= 100_000:
            raise SettingsError(f"{where}.queue: a number of events from 1 to 100000")
        return ChannelSettings(endpoint, secret, prefix, tuple(accepts), queue, name)
    return None
