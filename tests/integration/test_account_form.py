"""`loadtest.account_form` times both account forms on a real Redis and leaves nothing behind."""

from __future__ import annotations

from redis.asyncio import Redis

from loadtest import account_form


async def test_both_forms_are_timed_and_the_keys_removed(redis_url: str, redis: Redis) -> None:
    figures = await account_form.measure(redis_url, repeat=300, runs=1)
    assert set(figures) == {"hash read", "msgpack read", "hash write", "msgpack write"}
    assert figures["hash read"] > 0  # load_account ran (a missing account returns at once)
    assert await redis.exists(account_form.HASH_KEY, account_form.PACKED_KEY) == 0
