"""The engine's end of the event channel: instances connect, publish their events, and receive messages.

Transports: a WebSocket on the metadata service (``GET /v1/channel``, aiohttp),
and, with ``--channel-listen``, JSON lines on a Unix socket, TCP or AF_VSOCK
listener. Every connection starts with a ``/meta/handshake`` naming the
instance and its secret, the lower-case hex HMAC-SHA256 of its id under the
engine's instance secret (what ``blockprov-engine sign`` prints and the seed
carries); a wrong one is refused and the connection closed. Then each side
sends frames (JSON arrays of messages) whenever it likes.

What an instance publishes is stored with its webhook events (a module's
start/finish event as it is, anything else as an event of type ``channel``)
and wakes ``GET /events`` waiters. Messages for an instance that is not
connected wait in a bounded queue (oldest dropped) and go out when it connects.
One rule is built in: a ``hotplug/network`` ``add`` of a NIC whose MAC the
definition names is answered with ``config/set/network`` carrying the
definition's network config.
"""

from __future__ import annotations

import asyncio
import hmac
import time
import uuid
from collections import deque

from blockprov.channel.message import HANDSHAKE, PREFIXES, Message, MessageError, decode, encode

PENDING_MAX = 100  # messages kept per disconnected instance
MAX_FRAME = 1 << 20


class Link:
    """One connected instance: how to send to it and what it said about itself."""

    def __init__(self, iid: str, prefix: str, send, transport: str):
        self.iid, self.prefix, self.send, self.transport = iid, prefix, send, transport
        self.since = time.time()
        self.received = 0

    @property
    def base(self) -> str:
        return f"{self.prefix}{self.iid}/"


class Hub:
    def __init__(self, engine):
        self.engine = engine
        self.links: dict[str, Link] = {}
        self.pending: dict[str, deque] = {}
        self.dropped: dict[str, int] = {}
        self.last_seen: dict[str, float] = {}
        self.open: set = set()  # WebSockets and stream writers, closed at shutdown (they would hold it)

    async def close_all(self, app=None) -> None:
        """At shutdown: close every connection (aiohttp waits for open handlers otherwise)."""
        from aiohttp import WSCloseCode

        for c in list(self.open):
            try:
                if hasattr(c, "send_str"):
                    await c.close(code=WSCloseCode.GOING_AWAY, message=b"engine shutting down")
                else:
                    c.close()
            except (ConnectionError, RuntimeError):
                pass
        self.open.clear()

    # -- the handshake ----------------------------------------------------------------------
    def check_handshake(self, frame: str) -> tuple[str, str]:
        """(instance id, prefix) of a valid handshake frame; ValueError with the reason otherwise."""
        from blockprov_engine.signing import sign

        msgs, _bad = decode(frame)
        hs = next((m for m in msgs if m.channel == HANDSHAKE), None)
        if hs is None or not hs.client_id:
            raise ValueError("the first frame must be a /meta/handshake with the instance id as clientId")
        if self.engine.secret is None:
            raise ValueError("this engine has no instance secret (--instance-secret-file): no channel")
        secret = hs.data.get("secret")
        if not isinstance(secret, str) or not hmac.compare_digest(secret.encode("utf-8", "replace"),
                                                                 sign(self.engine.secret, hs.client_id).encode()):
            raise ValueError("wrong secret for this instance")
        if self.engine.catalog is None or hs.client_id not in self.engine.catalog.entries:
            raise ValueError(f"no instance {hs.client_id!r}")
        prefix = hs.data.get("prefix", "/blockprov/")
        if prefix not in PREFIXES:
            raise ValueError(f"prefix must be one of {', '.join(PREFIXES)}")
        return hs.client_id, prefix

    @staticmethod
    def answer(ok: bool, error: str | None = None) -> str:
        data = {"successful": ok} | ({"error": error} if error else {})
        return encode([Message(HANDSHAKE, data)])

    async def attach(self, link: Link) -> None:
        old = self.links.get(link.iid)
        self.links[link.iid] = link
        self.last_seen[link.iid] = time.time()
        if old is not None:
            await self._event(link.iid, {"name": "channel", "event_type": "channel", "description":
                                         f"replaced the {old.transport} connection", "origin": "engine"})
        queued = self.pending.pop(link.iid, deque())
        if queued:
            await link.send(encode(list(queued)))

    def detach(self, link: Link) -> None:
        if self.links.get(link.iid) is link:
            del self.links[link.iid]

    # -- from the instance ----------------------------------------------------------------
    async def received(self, link: Link, frame: str) -> None:
        self.last_seen[link.iid] = time.time()
        try:
            msgs, bad = decode(frame)
        except MessageError as exc:
            return await self._event(link.iid, {"name": "channel", "event_type": "channel", "origin": "engine",
                                                "description": f"unreadable frame: {exc}"})
        for reason in bad:
            await self._event(link.iid, {"name": "channel", "event_type": "channel", "origin": "engine",
                                         "description": f"malformed message {reason}"})
        for m in msgs:
            link.received += 1
            if not m.channel.startswith(link.base):
                await self._event(link.iid, {"name": "channel", "event_type": "channel", "origin": "engine",
                                             "description": f"ignored {m.channel}: not below {link.base}"})
                continue
            suffix = m.channel[len(link.base):]
            d = m.data
            if isinstance(d.get("name"), str) and d.get("event_type") in ("start", "finish"):
                ev = dict(d)  # a stage or module event, stored as the webhook would store it
            else:
                ev = {"name": suffix, "event_type": "channel", "origin": "channel", "data": d}
            ev["channel"], ev["message_id"] = m.channel, m.id
            await self._event(link.iid, ev)
            if suffix == "hotplug/network":
                await self._nic_rule(link, d)

    async def _event(self, iid: str, ev: dict) -> None:
        await asyncio.to_thread(self.engine.store.add_event, iid, ev)
        self.engine.waiters.wake(("ev", iid))
        self.engine.waiters.wake(("ev", None))

    async def _nic_rule(self, link: Link, d: dict) -> None:
        """A NIC the definition knows was added: send it its network config (the design's NIC flow)."""
        from blockprov_engine import render

        entry = self.engine.catalog.entries.get(link.iid)
        mac = str(d.get("mac") or "").lower()
        if entry is None or d.get("action") != "add" or not mac:
            return
        known = {str(n.get("mac") or "").lower() for n in entry.doc.get("nics") or []}
        if mac not in known:
            return
        await self.publish(link.iid, "config/set/network", {"network": render.network_v1(entry.doc)})

    # -- to the instance ------------------------------------------------------------------
    async def publish(self, iid: str, suffix: str, data: dict, mid: str | None = None) -> dict:
        """Send (or queue) one message; what happened, for the management API."""
        link = self.links.get(iid)
        prefix = link.prefix if link else "/blockprov/"
        m = Message(f"{prefix}{iid}/{suffix}", data, mid or uuid.uuid4().hex)
        if link is not None:
            try:
                await link.send(encode([m]))
                return {"id": m.id, "channel": m.channel, "delivered": True}
            except (ConnectionError, RuntimeError):
                self.detach(link)
        q = self.pending.setdefault(iid, deque())
        if len(q) >= PENDING_MAX:
            q.popleft()
            self.dropped[iid] = self.dropped.get(iid, 0) + 1
        q.append(m)
        return {"id": m.id, "channel": m.channel, "delivered": False, "queued": len(q)}

    def status(self, iid: str) -> dict:
        link = self.links.get(iid)
        return {"connected": link is not None, "transport": link.transport if link else None,
                "connected_since": link.since if link else None, "last_seen": self.last_seen.get(iid),
                "queued": len(self.pending.get(iid, ())), "dropped": self.dropped.get(iid, 0)}

    # -- transports -------------------------------------------------------------------------
    async def websocket(self, request):
        from aiohttp import web

        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, heartbeat=30)
        await ws.prepare(request)
        self.open.add(ws)
        try:
            return await self._websocket(ws)
        finally:
            self.open.discard(ws)

    async def _websocket(self, ws):
        from aiohttp import WSMsgType

        try:
            first = await ws.receive(timeout=10)
        except asyncio.TimeoutError:
            await ws.close()
            return ws
        if first.type != WSMsgType.TEXT:
            await ws.close()
            return ws
        try:
            iid, prefix = self.check_handshake(first.data)
        except (ValueError, MessageError) as exc:
            await ws.send_str(self.answer(False, str(exc)))
            await ws.close()
            return ws
        await ws.send_str(self.answer(True))
        link = Link(iid, prefix, ws.send_str, "websocket")
        await self.attach(link)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self.received(link, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self.detach(link)
        return ws

    async def stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transport: str) -> None:
        self.open.add(writer)
        try:
            await self._stream(reader, writer, transport)
        finally:
            self.open.discard(writer)

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transport: str) -> None:
        async def send(text: str) -> None:
            writer.write(text.encode() + b"\n")
            await writer.drain()

        try:
            first = await asyncio.wait_for(reader.readline(), 10)
            iid, prefix = self.check_handshake(first.decode("utf-8", "replace"))
        except (asyncio.TimeoutError, ValueError, MessageError, asyncio.LimitOverrunError) as exc:
            try:
                await send(self.answer(False, str(exc) or "no handshake"))
            except ConnectionError:
                pass
            writer.close()
            return
        await send(self.answer(True))
        link = Link(iid, prefix, send, transport)
        await self.attach(link)
        try:
            while line := await reader.readline():
                await self.received(link, line.decode("utf-8", "replace"))
        except (ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            self.detach(link)
            writer.close()


def parse_listen(text: str) -> tuple[str, object]:
    """``unix:/PATH``, ``tcp:HOST:PORT`` or ``vsock:PORT`` -> (kind, address); ValueError otherwise."""
    if text.startswith("unix:/"):
        return "unix", text[5:]
    if text.startswith("tcp:"):
        host, _, port = text[4:].rpartition(":")
        if host and port.isdigit():
            return "tcp", (host.strip("[]"), int(port))
    if text.startswith("vsock:") and text[6:].isdigit():
        return "vsock", int(text[6:])
    raise ValueError(f"--channel-listen {text!r}: unix:/PATH, tcp:HOST:PORT or vsock:PORT")


async def start_listener(hub: Hub, text: str):
    """An asyncio server for one --channel-listen address (the socket file 0600 for unix)."""
    import os
    import socket

    kind, addr = parse_listen(text)

    def handler(r, w):
        return hub.stream(r, w, kind)

    if kind == "unix":
        try:
            os.unlink(addr)
        except FileNotFoundError:
            pass
        old = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(handler, path=addr, limit=MAX_FRAME)
        finally:
            os.umask(old)
        return server
    if kind == "tcp":
        return await asyncio.start_server(handler, host=addr[0], port=addr[1], limit=MAX_FRAME)
    sock = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    sock.bind((socket.VMADDR_CID_ANY, addr))
    return await asyncio.start_server(handler, sock=sock, limit=MAX_FRAME)
