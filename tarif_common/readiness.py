"""Readiness: whether a process can do its work now, for `/readyz` (admin API and batch).

A check is a coroutine function that returns when its dependency answered and raises otherwise.
The checks run side by side, each bounded by `CHECK_TIMEOUT`, so a server that hangs cannot hang
the probe. The answer names what is down but not why: `/readyz` needs no key, so the reasons
(hosts, ports, driver messages) go to the log, and only an error's class (or a `NotReady`'s own
message) goes into the body.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 2.0  # seconds one check may take (an orchestrator's probe times out at 1-10 s)
JSON = "application/json"
PROBLEM = "application/problem+json"

Check = Callable[[], Awaitable[object]]


class NotReady(Exception):
    """A check's own refusal (e.g. a loop not running); its message is shown as it is."""


@dataclass(frozen=True, slots=True)
class Readiness:
    checked: tuple[str, ...]
    down: dict[str, str] = field(default_factory=dict)  # check name -> reason shown

    @property
    def ready(self) -> bool:
        return not self.down

    def answer(self) -> tuple[int, str, dict[str, Any]]:
        """Status, media type and body: 200 with every check `ok`, else a 503 problem+json whose
        `detail` and `errors` name the checks that failed."""
        checks = {name: "down" if name in self.down else "ok" for name in self.checked}
        if self.ready:
            return 200, JSON, {"status": "ready", "checks": checks}
        body = {
            "type": "about:blank",
            "title": "Not ready",
            "status": 503,
            "detail": "down: " + ", ".join(sorted(self.down)),
            "errors": [
                {"dependency": name, "message": reason}
                for name, reason in sorted(self.down.items())
            ],
            "checks": checks,
        }
        return 503, PROBLEM, body


async def _reason(name: str, check: Check, within: float) -> str | None:
    """None if `check` answered in time, else what to show."""
    try:
        await asyncio.wait_for(check(), within)
    except NotReady as exc:
        return str(exc)
    except TimeoutError:
        log.warning("ready.check_timeout", extra={"check": name, "seconds": within})
        return f"no answer in {within:g} s"
    except Exception as exc:  # any failure means not ready; the details are logged only
        log.warning("ready.check_failed", extra={"check": name, "error": repr(exc)})
        return type(exc).__name__
    return None


async def probe(checks: Mapping[str, Check], within: float = CHECK_TIMEOUT) -> Readiness:
    """Run every check at once, each for at most `within` seconds; the result names those that
    failed."""
    reasons = await asyncio.gather(*(_reason(n, c, within) for n, c in checks.items()))
    down = {name: reason for name, reason in zip(checks, reasons, strict=True) if reason}
    return Readiness(tuple(checks), down)
