"""Request ids: accepted or made, held per call (task), and written into every log line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re

import pytest

from tarif_common import request_ids
from tarif_common.logs import JsonFormatter, TextFormatter

NEW = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize("given", ["abc-123", "7f3a9c2e-1b4d-4c8e-9d2a-0b1c2d3e4f5a", "x" * 128])
def test_an_acceptable_id_is_kept(given: str) -> None:
    assert request_ids.accepted(given) == given
    assert request_ids.accepted(given.encode()) == given


@pytest.mark.parametrize("given", [None, "", "x" * 129, "a b", "tab\there", "é", "a\nb", b"\xff"])
def test_anything_else_gets_a_new_id(given: str | bytes | None) -> None:
    made = request_ids.accepted(given)
    assert NEW.fullmatch(made), made


def test_new_ids_differ() -> None:
    made = {request_ids.new() for _ in range(1000)}
    assert len(made) == 1000
    assert all(NEW.fullmatch(m) for m in made)


def test_an_id_is_held_for_the_body_of_the_with_and_passed_on() -> None:
    assert request_ids.current() is None
    assert request_ids.outgoing() == ()
    with request_ids.bound("outer"):
        with request_ids.bound("inner"):
            assert request_ids.outgoing() == (("x-request-id", "inner"),)
        assert request_ids.current() == "outer"
        with request_ids.bound(""):  # none
            assert request_ids.current() is None
    assert request_ids.current() is None


async def test_concurrent_calls_keep_their_own_id() -> None:
    async def call(request_id: str) -> str | None:
        with request_ids.bound(request_id):
            await asyncio.sleep(0.01)
            return request_ids.current()

    assert await asyncio.gather(call("a"), call("b"), call("c")) == ["a", "b", "c"]


def _lines(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(request_ids.LogFilter())
    logger = logging.getLogger("tests.request_ids")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


def test_every_log_line_written_during_a_call_carries_its_id() -> None:
    logger, out = _lines(JsonFormatter())
    logger.info("before")
    with request_ids.bound("rq-7"):
        logger.info("during", extra={"rpc": "ChargeEvent"})
        logger.info("named", extra={"request_id": "its-own"})  # a line that names one keeps it
    logger.info("after")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(x["event"], x.get("request_id")) for x in lines] == [
        ("before", None),
        ("during", "rq-7"),
        ("named", "its-own"),
        ("after", None),
    ]
    assert lines[1]["rpc"] == "ChargeEvent"


def test_the_text_format_shows_it_too() -> None:
    logger, out = _lines(TextFormatter())
    with request_ids.bound("rq-8"):
        logger.info("during")
    assert out.getvalue().rstrip().endswith("during request_id=rq-8")
