"""schemathesis against the live admin API (a real `tarif admin serve` and `tarif engine`):
no 5xx, every response of a documented status, content type and schema."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from admin_api.auth import Role, create_key
from tarif_common.embedded import free_port
from tests.integration.admin_harness import onboarding
from tests.integration.harness import catalog

pytestmark = pytest.mark.slow


async def _prepare(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO catalog_versions (document, published_by) VALUES ($1::jsonb, 'test')",
            json.dumps(catalog()),
        )
        await conn.execute("INSERT INTO outbox (kind, key) VALUES ('catalog', 'catalog')")
        key, _ = await create_key(conn, Role.ADMIN, "schemathesis")
        return key
    finally:
        await conn.close()


def _wait(url: str, deadline: float) -> None:
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="module")
def live_admin(redis_url: str, database_url: str) -> Iterator[tuple[str, str]]:
    key = asyncio.run(_prepare(database_url))
    grpc_port, admin_port = free_port(), free_port()
    env = os.environ | {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "TARIF_GRPC_ADDR": f"127.0.0.1:{grpc_port}",
        "TARIF_METRICS_ADDR": f"127.0.0.1:{free_port()}",
        "TARIF_ADMIN_ADDR": f"127.0.0.1:{admin_port}",
        "TARIF_LOG_LEVEL": "WARNING",
    }
    processes = [
        subprocess.Popen([sys.executable, "-m", "tarif_cli.main", *command], env=env)
        for command in (["engine"], ["admin", "serve"])
    ]
    url = f"http://127.0.0.1:{admin_port}"
    try:
        _wait(f"{url}/openapi.json", time.monotonic() + 30)
        # one real customer, so that ids in generated paths sometimes exist
        request = urllib.request.Request(
            f"{url}/v1/customers",
            data=json.dumps(onboarding("38640777001")).encode(),
            headers={"X-API-Key": key, "content-type": "application/json"},
        )
        assert urllib.request.urlopen(request, timeout=10).status == 201
        yield url, key
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(15)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# ~90 operations x 25 examples through three processes: about 30 s alone on a quiet 2-core
# machine; on one shared with other work, 160 s alone and 200 to over 290 s beside an xdist worker.
@pytest.mark.timeout(600)
def test_no_server_error_and_every_response_matches_its_schema(
    live_admin: tuple[str, str],
) -> None:
    url, key = live_admin
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(base_url=url, headers={"X-API-Key": key}, checks=CHECKS)

        run()
        tested.append(operation.label)
    assert len(tested) >= 25  # every operation of the API was exercised
