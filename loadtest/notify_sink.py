"""A local SMS gateway and webhook receiver for the dashboard's load run, whose answers vary so
every notifier outcome happens: delivered, failed (then retried), dead.

- an SMS to a number ending in 7: always 503, so the notifier gives it up (dead);
- an SMS or webhook whose `idempotency-key` / `webhook-id` hashes to 0 mod 3: 503 the first
  time, then 200 (failed, then delivered);
- anything else: 200.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        key = self.headers.get("idempotency-key") or self.headers.get("webhook-id") or ""
        status = self.server.sink.answer(self.path, key, body)
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sink: NotifySink


class NotifySink:
    """`with NotifySink() as sink:` serves on a free loopback port; `sink.counts` says what it
    answered (by path and status)."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.sink = self
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, path: str, key: str, body: bytes) -> int:
        with self._lock:
            first = key not in self._seen
            self._seen.add(key)
            refused = path == "/sms" and str(json.loads(body or b"{}").get("to", "")).endswith("7")
            flaky = first and hashlib.blake2b(key.encode(), digest_size=4).digest()[0] % 3 == 0
            status = 503 if refused or flaky else 200
            self.counts[f"{path} {status}"] += 1
            return status

    def __enter__(self) -> NotifySink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
