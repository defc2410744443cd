"""Real local servers standing in for parties we do not own: an HTTP sink, an SMTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tarif_common.embedded import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0  # what the sink answered; 0 if the client went away first

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpSink:
    """Records every POST; `answer(n, request)` gives the status of the n-th one (from 1).

    `hold` makes the sink keep a request open until `release` is set (or the client goes away),
    to catch a sender in the middle of a delivery.
    """

    answer: Callable[[int, Received], int] = lambda n, r: 200
    received: list[Received] = field(default_factory=list)
    hold: Callable[[int, Received], bool] = lambda n, r: False
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length", 0))
        request = Received(
            handler.path,
            {k.lower(): v for k, v in handler.headers.items()},
            handler.rfile.read(length),
        )
        with self._lock:
            self.received.append(request)
            n = len(self.received)
        if self.hold(n, request):
            self.holding.set()
            self.release.wait(30)
            # the sender may have died meanwhile: then nothing is accepted
            if _peer_gone(handler):
                return
        status = self.answer(n, request)
        try:
            handler.send_response(status)
            handler.send_header("content-length", "2")
            handler.end_headers()
            handler.wfile.write(b"ok")
            handler.wfile.flush()
        except OSError:
            return
        request.status = status


def _peer_gone(handler: BaseHTTPRequestHandler) -> bool:
    import select
    import socket

    sock = handler.connection
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


@contextmanager
def http_sink(sink: HttpSink | None = None) -> Iterator[HttpSink]:
    sink = sink or HttpSink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            sink._handle(self)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # the kernel picks a free port
    server.daemon_threads = True
    sink.url = f"http://127.0.0.1:{server.server_port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        sink.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class SmtpSink:
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.port = controller.port
    try:
        yield sink
    finally:
        controller.stop()
