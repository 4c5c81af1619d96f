"""Channel messages and channel names (pure).

A frame is a JSON array of messages, each ``{"channel": "/blockprov/<iid>/...",
"clientId": "...", "id": "...", "data": {...}}`` (the Bayeux shape). Channels
below an instance's prefix:

- published by the instance: ``<stage>/<module>`` (module start/finish),
  ``<stage>`` (stage start/finish), ``hotplug/network``, ``hotplug/block``,
  ``config/value/<module>`` (the answer to a get), ``channel/refused``;
- received: ``config/set/<module>`` and ``config/get/<module>``;
- ``/meta/handshake`` opens a connection (the instance's id and secret).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

PREFIXES = ("/blockprov/", "/cloudinit/")
HANDSHAKE = "/meta/handshake"
MAX_FRAME = 1 << 20  # bytes of one frame; larger ones are refused unread
_MODULE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class MessageError(ValueError):
    """A frame or message that is not what the format says; never acted on."""


@dataclass
class Message:
    channel: str
    data: dict = field(default_factory=dict)
    id: str | None = None
    client_id: str | None = None

    def to_json(self) -> dict:
        out = {"channel": self.channel, "data": self.data}
        if self.id is not None:
            out["id"] = self.id
        if self.client_id is not None:
            out["clientId"] = self.client_id
        return out


def encode(messages: list[Message]) -> str:
    return json.dumps([m.to_json() for m in messages], separators=(",", ":"), default=str)


def decode(text: str | bytes) -> tuple[list[Message], list[str]]:
    """(the well-formed messages of a frame, a reason for each malformed one); MessageError when the frame
    itself is unreadable (not JSON, not an array, too large)."""
    if len(text) > MAX_FRAME:
        raise MessageError(f"a frame of {len(text)} bytes is over the {MAX_FRAME >> 10} KiB limit")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        raise MessageError("a frame is a JSON array of messages")
    out, bad = [], []
    for i, m in enumerate(doc):
        if not isinstance(m, dict) or not isinstance(m.get("channel"), str) or not m["channel"]:
            bad.append(f"[{i}]: a message is an object with a string 'channel'")
            continue
        data = m.get("data", {})
        if not isinstance(data, dict):
            bad.append(f"[{i}] {m['channel']}: 'data' must be an object")
            continue
        mid, cid = m.get("id"), m.get("clientId")
        if mid is not None and not isinstance(mid, str) or cid is not None and not isinstance(cid, str):
            bad.append(f"[{i}] {m['channel']}: 'id' and 'clientId' are strings")
            continue
        out.append(Message(m["channel"], data, mid, cid))
    return out, bad


def event_suffix(event_name: str) -> str:
    """A reporting event's channel below the instance: ``modules-config/config-set_passwords`` ->
    ``modules-config/set_passwords``; a stage's own events on ``<stage>``; hotplug's, named by their
    channel already (``/blockprov/<iid>/hotplug/block``), on ``hotplug/block``."""
    if event_name.startswith(PREFIXES):
        rest = event_name.split("/", 3)[-1]
        return "hotplug/network" if rest == "hotplug/net" else rest  # the processor names the subsystem "net"
    stage, _, rest = event_name.partition("/")
    return f"{stage}/{rest.removeprefix('config-')}" if rest else stage


@dataclass(frozen=True)
class Channels:
    """The channel names of one instance under a prefix (``/blockprov/`` by default, ``/cloudinit/`` accepted)."""

    prefix: str
    iid: str

    @property
    def base(self) -> str:
        return f"{self.prefix}{self.iid}/"

    def name(self, suffix: str) -> str:
        return self.base + suffix.strip("/")

    def of_event(self, event_name: str) -> str:
        return self.name(event_suffix(event_name))

    def route(self, channel: str) -> tuple[str, str] | None:
        """``(verb, module)`` of a channel the instance acts on (``set`` or ``get``), else None."""
        if not channel.startswith(self.base):
            return None
        parts = channel[len(self.base):].split("/")
        if len(parts) == 3 and parts[0] == "config" and parts[1] in ("set", "get") and _MODULE.match(parts[2]):
            return parts[1], parts[2]
        return None
