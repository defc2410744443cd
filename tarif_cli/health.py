"""`tarif health`: is a process up, asked the way an orchestrator asks (Docker's HEALTHCHECK).

Why a command: the container image has no curl or grpc_health_probe, and the process's own
settings (the same environment) say where it listens, so `tarif health batch` needs no address.

tarif health engine        gRPC health of TARIF_GRPC_ADDR (a wildcard host is asked on loopback)
tarif health batch         GET /healthz on TARIF_BATCH_METRICS_ADDR
tarif health admin         GET /healthz on TARIF_ADMIN_ADDR
tarif health grpc ADDR     gRPC health of any address (`--service NAME`: one service)
tarif health http URL      GET any URL: healthy on a 2xx

Exit codes are Docker's: 0 healthy, 1 not (Docker reserves 2, so nothing here answers 2).
"""

from __future__ import annotations

import argparse
import urllib.error
import urllib.request
from typing import Any

from tarif_common.lifecycle import split_addr
from tarif_common.settings import Settings

HEALTHY, UNHEALTHY = 0, 1
TIMEOUT = 3.0  # seconds; Docker's own timeout (compose: 5 s) stops a check that hangs longer
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "*": "127.0.0.1"}


def local_addr(addr: str) -> str:
    """`addr` as a client on the same host dials it: a wildcard host (`0.0.0.0`, `[::]`) is
    where a server listens, not an address to dial, so it becomes loopback."""
    host, port = split_addr(addr)
    host = _WILDCARDS.get(host, host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_grpc(addr: str, service: str = "", timeout: float = TIMEOUT) -> tuple[bool, str]:
    """(healthy, what was seen) from the gRPC health service at `addr` (plaintext)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            return False, f"{exc.code().name}: {exc.details()}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    return answer.status == health_pb2.HealthCheckResponse.SERVING, status


def check_http(url: str, timeout: float = TIMEOUT) -> tuple[bool, str]:
    """(healthy, what was seen) from a GET of `url`: healthy on a 2xx answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return 200 <= answer.status < 300, f"HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"unreachable: {reason}"


def target(settings: Settings, args: argparse.Namespace) -> tuple[str, str]:
    """(kind, address or URL) that `args` asks about."""
    if args.target == "engine":
        return "grpc", local_addr(settings.grpc_addr)
    if args.target == "batch":
        return "http", f"http://{local_addr(settings.batch_metrics_addr)}/healthz"
    if args.target == "admin":
        return "http", f"http://{local_addr(settings.admin_addr)}/healthz"
    return args.target, args.address


def cmd_health(settings: Settings, args: argparse.Namespace) -> int:
    kind, where = target(settings, args)
    if kind == "grpc":
        if args.target == "engine" and settings.tls_cert is not None:
            print(f"{where}: the engine serves TLS; `tarif health` checks plaintext gRPC only")
            return UNHEALTHY
        healthy, seen = check_grpc(where, args.service, args.timeout)
    else:
        healthy, seen = check_http(where, args.timeout)
    print(f"{args.target} {where}: {seen}")
    return HEALTHY if healthy else UNHEALTHY


def add_parser(sub: Any) -> None:
    health = sub.add_parser(
        "health", help="is a process up (exit 0) or not (1): for container health checks"
    )
    targets = health.add_subparsers(dest="target", required=True)
    timing = argparse.ArgumentParser(add_help=False)
    timing.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds (default 3)")
    for name, what in (
        ("engine", "gRPC health of TARIF_GRPC_ADDR"),
        ("batch", "GET /healthz on TARIF_BATCH_METRICS_ADDR"),
        ("admin", "GET /healthz on TARIF_ADMIN_ADDR"),
    ):
        targets.add_parser(name, parents=[timing], help=what).set_defaults(service="")
    grpc_check = targets.add_parser("grpc", parents=[timing], help="gRPC health of an address")
    grpc_check.add_argument("address", help="host:port")
    grpc_check.add_argument("--service", default="", help="one service's status (default: all)")
    http_check = targets.add_parser("http", parents=[timing], help="GET a URL: healthy on 2xx")
    http_check.add_argument("address", metavar="url")
    health.set_defaults(func=cmd_health)
