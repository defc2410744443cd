"""Readiness checks: each bounded in time, run side by side, and an answer that names what is
down without saying more than an unauthenticated caller should read."""

from __future__ import annotations

import asyncio
import time

import pytest

from tarif_common.readiness import NotReady, Readiness, probe


async def answers() -> None:
    return None


async def refuses() -> None:
    raise ConnectionRefusedError(111, "Connect call failed ('10.0.0.7', 6379)")


async def hangs() -> None:
    await asyncio.sleep(60)


async def stopped() -> None:
    raise NotReady("not running: ingest-rated")


async def test_all_answering_is_ready() -> None:
    readiness = await probe({"postgres": answers, "redis": answers})
    assert readiness.ready
    assert readiness.answer() == (
        200,
        "application/json",
        {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}},
    )


async def test_the_answer_names_what_is_down_and_no_address() -> None:
    readiness = await probe(
        {"postgres": answers, "redis": refuses, "ingestion": stopped, "engine": hangs},
        within=0.05,
    )
    assert not readiness.ready
    status, media_type, body = readiness.answer()
    assert (status, media_type) == (503, "application/problem+json")
    assert body["title"] == "Not ready"
    assert body["status"] == 503
    assert body["detail"] == "down: engine, ingestion, redis"
    assert body["errors"] == [
        {"dependency": "engine", "message": "no answer in 0.05 s"},
        {"dependency": "ingestion", "message": "not running: ingest-rated"},
        {"dependency": "redis", "message": "ConnectionRefusedError"},
    ]
    assert body["checks"] == {
        "postgres": "ok", "redis": "down", "ingestion": "down", "engine": "down",
    }  # fmt: skip
    assert "10.0.0.7" not in str(body)  # hosts and driver messages go to the log only


async def test_the_checks_run_side_by_side() -> None:
    started = time.monotonic()
    readiness = await probe({f"slow{i}": hangs for i in range(5)}, within=0.2)
    assert time.monotonic() - started < 0.8  # not 5 x 0.2
    assert set(readiness.down) == {f"slow{i}" for i in range(5)}


@pytest.mark.parametrize("down", [{}, {"redis": "ConnectionError"}])
def test_ready_means_nothing_down(down: dict[str, str]) -> None:
    assert Readiness(("redis",), down).ready is not down
