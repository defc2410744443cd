"""promtool (Debian's `prometheus` package) for the tests that lint metrics and alert rules.

Where promtool is missing those tests skip, unless TARIF_REQUIRE_PROMTOOL is set (`.ci/run`
sets it): then they fail, so CI cannot pass by not checking.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REQUIRE = "TARIF_REQUIRE_PROMTOOL"


def wanted() -> bool:
    """Whether a check that is part of a larger test should run (it fails if it must and
    cannot); a test only about promtool calls `executable()` and skips visibly instead."""
    return shutil.which("promtool") is not None or REQUIRE in os.environ


def executable() -> str:
    """promtool's path; skips the test without it, or fails it when CI requires it."""
    found = shutil.which("promtool")
    if found is not None:
        return found
    if REQUIRE in os.environ:
        pytest.fail(f"promtool is not installed and {REQUIRE} is set (apt-get install prometheus)")
    pytest.skip(f"promtool is not installed (apt-get install prometheus; CI sets {REQUIRE})")


def run(*args: str, stdin: bytes = b"", cwd: Path | None = None) -> tuple[int, str]:
    """promtool's exit status and everything it wrote (stdout, then stderr)."""
    done = subprocess.run(
        [executable(), *args], input=stdin, capture_output=True, timeout=60, cwd=cwd, check=False
    )
    return done.returncode, (done.stdout + done.stderr).decode()


def lint_metrics(exposition: bytes) -> str:
    """What `promtool check metrics` says about a /metrics text ('' when it is clean)."""
    status, said = run("check", "metrics", stdin=exposition)
    return said if status or said.strip() else ""
