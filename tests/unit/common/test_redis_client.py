"""One factory for both kinds of Redis: the URL's scheme decides (no server is reached here)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from tarif_common.redis_client import cluster_url, connect, is_cluster, is_cluster_url


def test_the_scheme_says_cluster_or_not() -> None:
    assert is_cluster_url("redis+cluster://10.0.0.1:7000")
    assert is_cluster_url("rediss+cluster://user:pw@node:7000")
    assert not is_cluster_url("redis://127.0.0.1:6379/0")
    assert not is_cluster_url("rediss://127.0.0.1:6379/0")
    assert cluster_url("127.0.0.1", 7000) == "redis+cluster://127.0.0.1:7000"


async def test_a_cluster_url_gives_a_cluster_client_with_its_bound_per_node() -> None:
    client = connect("redis+cluster://127.0.0.1:7000", max_connections=77)
    assert isinstance(client, RedisCluster)
    assert is_cluster(client)
    assert list(client.nodes_manager.startup_nodes) == ["127.0.0.1:7000"]
    assert client.get_connection_kwargs()["max_connections"] == 77
    await client.aclose()


async def test_a_plain_url_gives_one_server_and_a_blocking_pool_when_bounded() -> None:
    plain = connect("redis://127.0.0.1:6379/3")
    assert isinstance(plain, Redis)
    assert not is_cluster(plain)
    assert plain.connection_pool.connection_kwargs["db"] == 3
    bounded = connect("redis://127.0.0.1:6379/0", max_connections=5, pool_timeout=1.5)
    assert isinstance(bounded, Redis)
    assert bounded.connection_pool.max_connections == 5
    assert bounded.connection_pool.timeout == 1.5  # type: ignore[attr-defined]
    await plain.aclose()
    await bounded.aclose()
