"""One connection to a channel endpoint: JSON-lines frames on a stream socket, or WebSocket text frames.

``unix:``, ``tcp://`` and ``vsock://`` share every line but the address family
(``socket.AF_UNIX``, ``AF_INET``/``AF_INET6`` through ``create_connection``,
``AF_VSOCK``): one frame per line. ``ws(s)://`` (and ``http(s)://``, upgraded)
goes through websocket-client, one frame per text message.
"""

from __future__ import annotations

import socket

from blockprov.channel.message import MAX_FRAME
from blockprov.channel.settings import Endpoint


class Closed(ConnectionError):
    """The other side closed the connection (or it broke)."""


class StreamConn:
    """Frames as lines on a connected stream socket (the engine's listener and the local socket alike)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""

    def send(self, text: str) -> None:
        try:
            self.sock.sendall(text.encode() + b"\n")
        except OSError as exc:
            raise Closed(str(exc)) from None

    def recv(self, timeout: float | None) -> str | None:
        """The next frame, None when ``timeout`` passed without one; Closed at the end of the stream."""
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_FRAME:
                raise Closed(f"a frame longer than {MAX_FRAME} bytes")
            try:
                got = self.sock.recv(65536)
            except (socket.timeout, BlockingIOError):
                return None
            except OSError as exc:
                raise Closed(str(exc)) from None
            if not got:
                raise Closed("closed by the other side")
            self.buf += got
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode("utf-8", "replace")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class WsConn:
    def __init__(self, ws):
        self.ws = ws

    def send(self, text: str) -> None:
        import websocket

        try:
            self.ws.send(text)
        except (websocket.WebSocketException, OSError) as exc:
            raise Closed(str(exc)) from None

    def recv(self, timeout: float | None) -> str | None:
        import websocket

        self.ws.settimeout(timeout)
        try:
            got = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        except (websocket.WebSocketException, OSError) as exc:
            raise Closed(str(exc)) from None
        if got in (None, "", b""):
            raise Closed("closed by the other side")
        return got if isinstance(got, str) else got.decode("utf-8", "replace")

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - closing a broken socket may raise anything; it is gone either way
            pass


def stream_socket(ep: Endpoint) -> socket.socket:
    """An unconnected socket of the endpoint's family (AF_UNIX, AF_VSOCK); tcp uses create_connection."""
    if ep.kind == "unix":
        return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if ep.kind == "vsock":
        return socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    raise ValueError(ep.kind)


def connect(ep: Endpoint, timeout: float = 10):
    """A connection to the endpoint (OSError and websocket errors propagate as Closed)."""
    try:
        if ep.kind == "ws":
            import websocket

            try:
                return WsConn(websocket.create_connection(ep.address, timeout=timeout, enable_multithread=True))
            except websocket.WebSocketException as exc:
                raise Closed(f"{ep}: {exc}") from None
        if ep.kind == "tcp":
            return StreamConn(socket.create_connection((ep.host, ep.port), timeout=timeout))
        sock = stream_socket(ep)
        sock.settimeout(timeout)
        try:
            sock.connect(ep.address if ep.kind == "unix" else (ep.cid, ep.port))
        except OSError:
            sock.close()
            raise
        return StreamConn(sock)
    except OSError as exc:
        raise Closed(f"{ep}: {exc.strerror or exc}") from None
