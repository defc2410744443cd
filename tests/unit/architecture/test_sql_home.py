"""SQL lives in the named query files (`tarif_postgres/sql/*.sql`), nowhere else in Python."""

from __future__ import annotations

import re
import tokenize
from pathlib import Path

import pytest

from tarif_postgres import queries

REPO = Path(__file__).resolve().parents[3]
PACKAGES = [
    "engine", "billing_batch", "admin_api", "tarif_cli", "tarif_common", "tarif_catalog",
    "tarif_balances", "tarif_billing", "tarif_jobs", "tarif_client", "tarif_notifications",
    "tarif_postgres", "loadtest",
]  # fmt: skip
# The migration runner holds its own bookkeeping statements; the loader holds none.
ALLOWED = {"tarif_postgres/db.py"}
# Statements as Tarif writes them (keywords in capitals), at the start of a string.
_SQL = re.compile(
    r"^\s*(SELECT\s.+\sFROM\s|SELECT\s+(pg_|\$|1\b|count|exists)|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s"
    r"|DELETE\s+FROM\s|CREATE\s+(TABLE|INDEX|TEMPORARY)|ALTER\s+TABLE\s|TRUNCATE\s|WITH\s+\w+\s+AS\s*\()",
    re.DOTALL,
)


def _string_value(token: str) -> str:
    """A string token's text without its prefix and quotes (f-string fields stay as written)."""
    body = token.lstrip("rRbBuUfF")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    return body[len(quote) : -len(quote)]


def sql_literals(path: Path) -> list[tuple[int, str]]:
    """String literals (adjacent ones joined, f-strings included) that read as SQL statements.

    Read with `tokenize` rather than `ast`: CPython 3.11 before 3.11.8 can fail `ast.parse` with
    "AST constructor recursion depth mismatch" once a RecursionError happened in the process
    (the admin API tests send bodies nested too deep on purpose).
    """
    found: dict[int, str] = {}
    run: list[str] = []
    first_line = 0

    def flush() -> None:
        text = "".join(run)
        if run and _SQL.search(text):
            found.setdefault(first_line, text.strip().splitlines()[0][:80])
        run.clear()

    with path.open("rb") as source:
        for token in tokenize.tokenize(source.readline):
            if token.type == tokenize.STRING:
                if not run:
                    first_line = token.start[0]
                run.append(_string_value(token.string))
            elif token.type not in (tokenize.NL, tokenize.COMMENT):
                flush()
    flush()
    return sorted(found.items())


def python_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def test_the_detector_sees_sql() -> None:
    sample = REPO / "tests" / "unit" / "architecture" / "sql_sample.py.txt"
    assert [line for line, _ in sql_literals(sample)] == [4, 5, 6, 8]


def test_no_sql_in_python_outside_the_query_files() -> None:
    offenders = {
        f"{path.relative_to(REPO)}:{line}: {text}"
        for path in python_files()
        if str(path.relative_to(REPO)) not in ALLOWED
        for line, text in sql_literals(path)
    }
    assert not offenders, "SQL belongs in tarif_postgres/sql/*.sql:\n" + "\n".join(
        sorted(offenders)
    )


@pytest.mark.parametrize(
    "domain", sorted(p.stem for p in (REPO / "tarif_postgres" / "sql").glob("*.sql"))
)
def test_every_query_file_parses_and_every_query_is_used(domain: str) -> None:
    named = queries.load(domain)
    assert named, f"sql/{domain}.sql has no queries"
    used = "\n".join(p.read_text() for p in python_files())
    unused = [name for name in named if not re.search(rf"\b{name}\b", used)]
    assert not unused, f"sql/{domain}.sql: queries no code uses: {unused}"


def test_a_query_file_names_each_block_once() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        queries.parse("x", "-- name: a\n-- A.\nSELECT 1\n-- name: a\n-- A.\nSELECT 2\n")
    with pytest.raises(ValueError, match="description"):
        queries.parse("x", "-- name: a\nSELECT 1\n")
    parsed = queries.parse("x", "-- name: a\n-- One row. $1 id\nSELECT * FROM t WHERE id = $1;\n")
    assert parsed.a == "SELECT * FROM t WHERE id = $1"
    with pytest.raises(AttributeError, match="no query 'b'"):
        _ = parsed.b


def test_compose_fills_only_named_slots() -> None:
    assert queries.compose("SELECT a FROM t WHERE {where}", where="b = $1") == (
        "SELECT a FROM t WHERE b = $1"
    )
    with pytest.raises(KeyError):
        queries.compose("SELECT a FROM t WHERE {where} ORDER BY {order}", where="TRUE")
