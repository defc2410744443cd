"""Cursors of lists in one fixed order: opaque, tied to their list, ending on a short page."""

from __future__ import annotations

import base64
import json

import pytest

from admin_api.customers import SORTS
from admin_api.paging import MAX_ID, Keyset, Listing, Paging, Select, order
from tarif_common.errors import InvalidRequest

NEWEST_FIRST = Keyset("things", "id", MAX_ID)


def test_page_one_starts_at_the_start_and_a_full_page_has_a_cursor() -> None:
    assert NEWEST_FIRST.after(Paging(2, None)) == MAX_ID
    items, cursor = NEWEST_FIRST.page([{"id": 9}, {"id": 7}], Paging(2, None))
    assert items == [{"id": 9}, {"id": 7}]
    assert cursor is not None
    assert NEWEST_FIRST.after(Paging(2, cursor)) == 7


def test_a_short_page_is_the_last() -> None:
    assert NEWEST_FIRST.page([{"id": 3}], Paging(2, None)) == ([{"id": 3}], None)
    assert NEWEST_FIRST.page([], Paging(2, None)) == ([], None)


def test_a_cursor_of_another_list_or_garbage_is_refused() -> None:
    _, cursor = Keyset("others", "id", 0).page([{"id": 1}], Paging(1, None))
    for bad in (cursor, "garbage", "W10=", "WyJ0aGluZ3MiXQ=="):
        with pytest.raises(InvalidRequest) as refused:
            NEWEST_FIRST.after(Paging(1, bad))
        assert refused.value.field == "cursor"


def test_a_composite_hidden_key() -> None:
    keyset = Keyset("pairs", ("group", "id"), ("", ""), hidden=True)
    items, cursor = keyset.page([{"group": "a", "id": "x", "amount": "1"}], Paging(1, None))
    assert items == [{"amount": "1"}]
    assert keyset.after(Paging(1, cursor)) == ("a", "x")


@pytest.mark.parametrize("value", ["7", 7.5, True, -1, 2**63, None, [7]])
def test_a_forged_key_of_another_kind_is_refused(value: object) -> None:
    forged = base64.urlsafe_b64encode(json.dumps(["things", value]).encode()).decode()
    with pytest.raises(InvalidRequest):
        NEWEST_FIRST.after(Paging(1, forged))


def _sorted_cursor(sort: str, value: object, last_id: object) -> str:
    return base64.urlsafe_b64encode(json.dumps([sort, value, last_id]).encode()).decode()


@pytest.mark.parametrize(
    ("sort", "value", "last_id"),
    [
        ("id", "abc", 1),  # an id that is text would reach Postgres as a bigint
        ("id", 5, "1"),
        ("id", 5, 1.5),
        ("last_name", 7, 1),
        ("created_at", "not a time", 1),
        ("country", "SI", None),
    ],
)
def test_a_forged_customers_cursor_is_a_422(sort: str, value: object, last_id: object) -> None:
    listing = Listing(10, _sorted_cursor(sort, value, last_id), sort)
    with pytest.raises(InvalidRequest) as refused:
        order(Select(), listing, SORTS, "id", "c.id")
    assert refused.value.field == "cursor"


def test_a_customers_cursor_of_the_right_kinds_is_taken() -> None:
    select = Select()
    chosen = order(
        select,
        Listing(10, _sorted_cursor("-last_name", "novak", 42), "-last_name"),
        SORTS,
        "id",
        "c.id",
    )
    assert chosen.sql == "lower(c.last_name) DESC, c.id DESC"
    assert select.params == ["novak", 42]
