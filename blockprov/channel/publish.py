"""Hand an event to the channel service from any local process (stages, the hotplug processor).

One JSON-lines frame on the service's Unix socket; the service prefixes the
channel with the instance's and sends it on (or queues it while disconnected).
No socket (no channel configured, the service not running): nothing happens.
"""

from __future__ import annotations

import socket

from blockprov.channel.message import Message, encode
from blockprov.paths import Paths

TIMEOUT = 0.5  # a publisher never waits longer than this for the local service


class LocalPublisher:
    """One connection to the local socket, opened on first use and once more after it broke."""

    def __init__(self, paths: Paths):
        self.path = str(paths.channel_socket)
        self.sock: socket.socket | None = None
        self.failed = 0

    def publish(self, suffix: str, data: dict) -> bool:
        frame = encode([Message(suffix, data)]).encode() + b"\n"
        if self.sock is None and not self.failed and not __import__("os").path.exists(self.path):
            self.failed += 1
            return False
        for _attempt in (1, 2):
            try:
                if self.sock is None:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.settimeout(TIMEOUT)
                    s.connect(self.path)
                    self.sock = s
                self.sock.sendall(frame)
                return True
            except OSError:
                self.close()
        self.failed += 1
        return False

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


def publish(paths: Paths, suffix: str, data: dict) -> bool:
    """One event, one connection; False when no service listens."""
    if not paths.channel_socket.exists():
        return False
    p = LocalPublisher(paths)
    try:
        return p.publish(suffix, data)
    finally:
        p.close()
