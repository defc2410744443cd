"""`tarif health` against real servers on loopback: a gRPC health service and an HTTP endpoint,
healthy, not serving, and absent (Docker reads exit 0 as healthy and 1 as not)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tarif_cli.health import local_addr
from tarif_cli.main import main
from tarif_common.embedded import free_port


@pytest.fixture
def health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(None)


@pytest.fixture
def http_server() -> Iterator[str]:
    """`/healthz` answers 200, `/readyz` 503, anything else 404."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = {"/healthz": 200, "/readyz": 503}.get(self.path, 404)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_grpc_health(
    health_server: tuple[str, health.HealthServicer], capsys: pytest.CaptureFixture[str]
) -> None:
    addr, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert main(["health", "grpc", addr]) == 0
    assert capsys.readouterr().out == f"grpc {addr}: SERVING\n"
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)  # as an engine shutting down
    assert main(["health", "grpc", addr]) == 1
    assert capsys.readouterr().out == f"grpc {addr}: NOT_SERVING\n"
    assert main(["health", "grpc", addr, "--service", "tarif.Unknown"]) == 1
    assert capsys.readouterr().out.startswith(f"grpc {addr}: NOT_FOUND")


def test_grpc_health_of_nothing_listening(capsys: pytest.CaptureFixture[str]) -> None:
    addr = f"127.0.0.1:{free_port()}"
    assert main(["health", "grpc", addr, "--timeout", "1"]) == 1
    assert capsys.readouterr().out.startswith(f"grpc {addr}: UNAVAILABLE")


def test_http_health(http_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "http", f"{http_server}/healthz"]) == 0
    assert capsys.readouterr().out == f"http {http_server}/healthz: HTTP 200\n"
    assert main(["health", "http", f"{http_server}/readyz"]) == 1
    assert capsys.readouterr().out == f"http {http_server}/readyz: HTTP 503\n"
    assert main(["health", "http", f"{http_server}/nothing"]) == 1
    nowhere = f"http://127.0.0.1:{free_port()}/healthz"
    assert main(["health", "http", nowhere, "--timeout", "1"]) == 1
    assert "unreachable" in capsys.readouterr().out


def test_the_process_targets_ask_where_their_settings_listen(
    http_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = http_server.rpartition(":")[2]
    monkeypatch.setenv("TARIF_ADMIN_ADDR", f"0.0.0.0:{port}")  # as in the image
    assert main(["health", "admin"]) == 0
    assert capsys.readouterr().out == f"admin http://127.0.0.1:{port}/healthz: HTTP 200\n"
    monkeypatch.setenv("TARIF_BATCH_METRICS_ADDR", f"127.0.0.1:{free_port()}")
    assert main(["health", "batch", "--timeout", "1"]) == 1
    capsys.readouterr()
    monkeypatch.setenv("TARIF_TLS_CERT", "/etc/tarif/server.pem")  # plaintext only: says so
    assert main(["health", "engine"]) == 1
    assert "serves TLS" in capsys.readouterr().out


def test_a_wildcard_address_is_dialled_on_loopback() -> None:
    assert local_addr("0.0.0.0:50051") == "127.0.0.1:50051"
    assert local_addr("[::]:8080") == "[::1]:8080"
    assert local_addr(":9465") == "127.0.0.1:9465"
    assert local_addr("engine:50051") == "engine:50051"
    assert local_addr("[fd00::1]:50051") == "[fd00::1]:50051"
