"""The bench's count of rated records: exact over entries of every size (a chunk's entry holds
many records, a unary call's one), whatever order they were written in."""

from __future__ import annotations

import redis

from loadtest.raw import rated_streams
from tarif_balances.records import BATCH, RECORDS_SEPARATOR, SEPARATOR
from tarif_common import keys


def test_records_are_counted_in_every_entry(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
        record = SEPARATOR.join(["e:1", "event", "1001"])
        chunk = RECORDS_SEPARATOR.join([record] * 31)
        for _ in range(3):  # batched traffic first: big entries
            client.xadd(keys.rated_stream(0), {BATCH: chunk})
        for _ in range(1_500):  # then unary traffic: one record an entry, past one page
            client.xadd(keys.rated_stream(0), {"r": record})
        client.xadd(keys.rated_stream(1), {BATCH: chunk})
        records, size = rated_streams(client, 2)
        assert records == 3 * 31 + 1_500 + 31
        assert size > 0
    finally:
        client.flushdb()
        client.close()
