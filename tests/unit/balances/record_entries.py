"""Hypothesis strategies for `tarif:{p}:rated` entries: mostly as `add_record` writes them, now
and then bent (odd number forms, bad JSON, missing fields, times out of range) to reach every
error path. Bent values are kept rare so most entries are readable and their values compared."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from hypothesis import strategies as st

from tarif_balances.records import FIELDS, REQUIRED, RecordKind

T = TypeVar("T")
_MS_RANGE = 400_000_000_000_000  # beyond datetime's years 1..9999 on both sides


def _mostly(usual: st.SearchStrategy[T], odd: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """`odd` about one time in ten."""
    return st.integers(0, 9).flatmap(lambda n: odd if n == 0 else usual)


def _number(values: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    odd = st.sampled_from(["", " 7", "+7", "1_000", "07", "-0", "x", "1.5", "٣", "9" * 30])
    return _mostly(values.map(str), odd)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_objects = st.dictionaries(st.text(max_size=8), _json_values, max_size=4)
_attributes = _mostly(
    st.one_of(st.just(""), _objects.map(json.dumps), _objects.map(lambda d: json.dumps(d) + " ")),
    st.one_of(
        _json_values.map(json.dumps),
        _objects.map(lambda d: " " + json.dumps(d, separators=(",", ":")) + "\n"),
        st.sampled_from(['{"a": 1', "{}x", "{} x", "\ufeff{}", '{"a": NaN}', '{"a":1,"a":2}']),
        st.text(max_size=10),
    ),
)
_impact = st.tuples(
    st.text(st.characters(blacklist_characters=",|"), max_size=6),
    st.text(st.characters(blacklist_characters=",|"), max_size=6),
    _number(st.integers(-(10**12), 10**12)),
).map("|".join)
_impacts = _mostly(
    st.lists(_impact, max_size=3).map(",".join),
    st.sampled_from([",", "a|b", "a|b|1|2", "a|b|1,", "|||"]),
)
_times = _mostly(
    st.integers(0, 4_102_444_800_000),  # 1970 to 2100
    st.integers(-_MS_RANGE, _MS_RANGE),
)


@st.composite
def entries(draw: st.DrawFn) -> dict[str, str]:
    """A rated stream entry's fields."""
    fields: dict[str, Any] = {
        "id": draw(st.text(max_size=12)),
        "k": draw(_mostly(st.sampled_from([k.value for k in RecordKind]), st.text(max_size=6))),
        "acct": draw(st.text(max_size=8)),
        "sub": draw(st.text(max_size=8)),
        "svc": draw(st.text(max_size=6)),
        "rate": draw(st.text(max_size=10)),
        "t": draw(_number(_times)),
        "at": draw(_number(_times)),
        "u": draw(_number(st.integers(-(10**20), 10**20))),
        "ru": draw(_number(st.integers(0, 10**6))),
        "cost": draw(_number(st.integers(-(10**30), 10**30))),
        "cur": draw(st.sampled_from(["EUR", "JPY", "BHD", "XTS", ""])),
        "imp": draw(_impacts),
        "unc": draw(_number(st.integers(0, 10**6))),
        "sid": draw(st.text(max_size=6)),
        "attrs": draw(_attributes),
    }
    for optional in ("dec", "ref", "reason", "rq"):
        if draw(st.booleans()):
            fields[optional] = draw(
                _number(st.integers(-2, 20)) if optional == "dec" else st.text(max_size=6)
            )
    if draw(st.integers(0, 19)) == 0:  # now and then a required field is missing
        del fields[draw(st.sampled_from(sorted(REQUIRED)))]
    assert set(fields) <= set(FIELDS)
    return fields
