"""Cursors of lists in one fixed order: opaque, tied to their list, ending on a short page."""

from __future__ import annotations

import base64
import json

import pytest

from admin_api.paging import MAX_ID, Keyset, Paging
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
