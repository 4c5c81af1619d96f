"""``blockprov channel serve``: the instance's end of the event channel (socket-activated by systemd).

Three threads. *Local*: accepts the processes of this instance on the Unix socket
(``blockprov-channel.socket``, or bound here when not activated) and queues what
they publish. *Link*: holds one outbound connection to the endpoint (a handshake
with the instance id and secret first), sends the queue, and reconnects with
exponential back-off (tenacity) when it breaks; the queue is bounded and drops
its oldest events, counting them, while disconnected. *Worker*: carries out what
arrives, in order: ``config/set/<module>`` merges the data into the instance's
config (kept in ``channel-config.json`` so later boots keep it) and re-runs the
module in update mode; ``config/get/<module>`` answers with the module's
effective config, secrets redacted. Anything else, a repeated message id, a module
that is not re-runnable and data that fails the module's schema are refused with
a ``channel/refused`` event and never applied.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass

from blockprov.channel import transport
from blockprov.channel.message import HANDSHAKE, Channels, Message, MessageError, decode, encode
from blockprov.channel.settings import ChannelSettings
from blockprov.paths import Paths, atomic_write, ensure_dir

SEEN_KEPT = 1000  # message ids remembered (a repeated delivery is applied once)
HANDSHAKE_TIMEOUT = 10.0


@dataclass
class Stats:
    sent: int = 0
    dropped: int = 0
    received: int = 0
    refused: int = 0
    applied: int = 0
    connects: int = 0


class Outbox:
    """The events waiting to be sent: bounded, oldest dropped (and counted) when full."""

    def __init__(self, limit: int):
        self.q: deque[Message] = deque()
        self.limit = limit
        self.cv = threading.Condition()
        self.dropped = 0

    def put(self, m: Message) -> None:
        with self.cv:
            if len(self.q) >= self.limit:
                self.q.popleft()
                self.dropped += 1
            self.q.append(m)
            self.cv.notify_all()

    def take(self, timeout: float) -> list[Message]:
        with self.cv:
            if not self.q:
                self.cv.wait(timeout)
            out = list(self.q)
            self.q.clear()
            return out

    def put_back(self, ms: list[Message]) -> None:
        with self.cv:
            for m in reversed(ms):
                self.q.appendleft(m)
            while len(self.q) > self.limit:
                self.q.popleft()
                self.dropped += 1


class Seen:
    """Message ids already carried out, kept on disk (0600) so a restart does not apply one again."""

    def __init__(self, path):
        self.path = path
        try:
            got = json.loads(path.read_text())
            self.ids = [i for i in got if isinstance(i, str)] if isinstance(got, list) else []
        except (OSError, ValueError):
            self.ids = []
        self.set = set(self.ids)

    def __contains__(self, mid: str) -> bool:
        return mid in self.set

    def add(self, mid: str) -> None:
        self.ids = (self.ids + [mid])[-SEEN_KEPT:]
        self.set = set(self.ids)
        ensure_dir(self.path.parent, 0o700)
        atomic_write(self.path, json.dumps(self.ids), mode=0o600)


class Service:
    def __init__(self, paths: Paths, settings: ChannelSettings, iid: str, listener: socket.socket | None = None):
        self.paths, self.settings, self.iid = paths, settings, iid
        self.channels = Channels(settings.prefix, iid)
        self.outbox = Outbox(settings.queue)
        self.inbox: deque[Message] = deque()
        self.inbox_cv = threading.Condition()
        self.stats = Stats()
        self.stop = threading.Event()
        self.seen = Seen(paths.state / "channel" / "seen.json")
        self.listener = listener or bind_local(paths)
        self.conn = None

    # -- publishing --------------------------------------------------------------------
    def publish(self, suffix: str, data: dict) -> None:
        self.outbox.put(Message(self.channels.name(suffix), data, uuid.uuid4().hex, self.iid))

    def refuse(self, m: Message, reason: str) -> None:
        self.stats.refused += 1
        self.publish("channel/refused", {"id": m.id, "channel": m.channel, "reason": reason})

    # -- local socket ------------------------------------------------------------------
    def serve_local(self) -> None:
        self.listener.settimeout(0.5)
        while not self.stop.is_set():
            try:
                s, _ = self.listener.accept()
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                return
            threading.Thread(target=self._local_reader, args=(s,), daemon=True).start()

    def _local_reader(self, s: socket.socket) -> None:
        conn = transport.StreamConn(s)
        try:
            while not self.stop.is_set():
                frame = conn.recv(1.0)
                if frame is None:
                    continue
                try:
                    msgs, _bad = decode(frame)
                except MessageError:
                    continue
                for m in msgs:  # a local process names the channel below the instance
                    self.publish(m.channel.strip("/"), m.data)
        except transport.Closed:
            pass
        finally:
            conn.close()

    # -- the outbound link -----------------------------------------------------------
    def link(self) -> None:
        import tenacity

        retrying = tenacity.Retrying(wait=tenacity.wait_exponential(multiplier=0.5, max=30),
                                     retry=tenacity.retry_if_exception_type(transport.Closed),
                                     stop=tenacity.stop_when_event_set(self.stop), reraise=False,
                                     retry_error_callback=lambda _s: None)
        while not self.stop.is_set():
            retrying(self._connected_session)

    def _connected_session(self) -> None:
        conn = transport.connect(self.settings.endpoint)
        try:
            self._handshake(conn)
            self.stats.connects += 1
            self.conn = conn
            sender = threading.Thread(target=self._send_loop, args=(conn,), daemon=True)
            sender.start()
            while not self.stop.is_set():
                frame = conn.recv(0.5)
                if frame is not None:
                    self._received(frame)
                if not sender.is_alive():
                    raise transport.Closed("the send side broke")
        finally:
            self.conn = None
            conn.close()

    def _handshake(self, conn) -> None:
        conn.send(encode([Message(HANDSHAKE, {"secret": self.settings.secret, "prefix": self.settings.prefix,
                                              "dropped": self.outbox.dropped}, uuid.uuid4().hex, self.iid)]))
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            frame = conn.recv(left)
            if frame is None:
                break
            try:
                msgs, _ = decode(frame)
            except MessageError:
                continue
            for m in msgs:
                if m.channel == HANDSHAKE:
                    if m.data.get("successful") is True:
                        return
                    raise transport.Closed(f"handshake refused: {m.data.get('error', 'no reason given')}")
        raise transport.Closed("no handshake answer")

    def _send_loop(self, conn) -> None:
        while not self.stop.is_set() and self.conn is conn:
            batch = self.outbox.take(0.5)
            dropped = self.outbox.dropped
            if dropped > self.stats.dropped:  # said with the next frame, whenever the drops happened
                batch.insert(0, Message(self.channels.name("channel/dropped"), {
                    "dropped": dropped - self.stats.dropped, "total": dropped}, uuid.uuid4().hex, self.iid))
            if not batch:
                continue
            try:
                conn.send(encode(batch))
                self.stats.sent += len(batch)
                self.stats.dropped = dropped
            except transport.Closed:
                self.outbox.put_back([m for m in batch if not m.channel.endswith("/channel/dropped")])
                return

    def _received(self, frame: str) -> None:
        try:
            msgs, bad = decode(frame)
        except MessageError as exc:
            self.stats.refused += 1
            self.publish("channel/refused", {"reason": str(exc)})
            return
        for reason in bad:
            self.stats.refused += 1
            self.publish("channel/refused", {"reason": reason})
        with self.inbox_cv:
            self.inbox.extend(msgs)
            self.stats.received += len(msgs)
            self.inbox_cv.notify_all()

    # -- carrying out --------------------------------------------------------------------
    def work(self) -> None:
        while not self.stop.is_set():
            with self.inbox_cv:
                if not self.inbox:
                    self.inbox_cv.wait(0.5)
                if not self.inbox:
                    continue
                m = self.inbox.popleft()
            try:
                self.handle(m)
            except Exception as exc:  # noqa: BLE001 - one message must not end the service; say why
                self.refuse(m, f"{type(exc).__name__}: {exc}")

    def handle(self, m: Message) -> None:
        from blockprov.channel import actions

        if m.channel == HANDSHAKE:
            return
        route = self.channels.route(m.channel)
        if route is None:
            return self.refuse(m, f"not a channel this instance acts on (expected {self.channels.base}"
                                  "config/set/<module> or config/get/<module>)")
        verb, module = route
        if not self.settings.accepted(f"config/{verb}/{module}"):
            return self.refuse(m, f"config/{verb}/{module} is not among this instance's channels "
                                  f"({', '.join(self.settings.accepts)})")
        if not m.id:
            return self.refuse(m, "a message without an id cannot be told from a repeated delivery")
        if m.id in self.seen:
            return self.refuse(m, f"message {m.id} was already carried out; a repeated delivery is not applied")
        if verb == "get":
            self.seen.add(m.id)
            return self.publish(f"config/value/{module}", {"reply_to": m.id,
                                                           "config": actions.effective(self.paths, module)})
        why = actions.set_problem(module, m.data)
        if why:
            self.seen.add(m.id)
            return self.refuse(m, why)
        actions.apply_set(self.paths, module, m.data)
        self.seen.add(m.id)
        self.stats.applied += 1

    # -- the process -----------------------------------------------------------------------
    def run(self) -> int:
        threads = [threading.Thread(target=f, daemon=True) for f in (self.serve_local, self.work)]
        for t in threads:
            t.start()
        try:
            self.link()
        finally:
            self.stop.set()
            try:
                self.listener.close()
            except OSError:
                pass
        return 0


def bind_local(paths: Paths) -> socket.socket:
    """The socket systemd passed (LISTEN_FDS), else one bound here: 0600 in a 0700 directory."""
    if os.environ.get("LISTEN_PID") == str(os.getpid()) and os.environ.get("LISTEN_FDS") == "1":
        return socket.socket(fileno=3)
    path = paths.channel_socket
    ensure_dir(path.parent, 0o700)
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        s.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    s.listen(64)
    return s
