"""Bounded in-process cache of routes (service identifier -> partition, account, plan).

Saves the route lookup on the hot path, keeping one round trip to Redis per request. It can never
charge the wrong account: each script checks that the account still owns the identifier with that
plan and answers "stale" otherwise, and the charger then drops the entry and resolves again. A
cached route naming a plan the current catalog lacks is read again before rating (the charger's
`_routes_of`): no script would ever see it, since rating fails first.
"""

from __future__ import annotations

from tarif_balances.model import Route


class RouteCache:
    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._routes: dict[str, Route] = {}

    def get(self, subscriber: str) -> Route | None:
        return self._routes.get(subscriber)

    def put(self, subscriber: str, route: Route) -> None:
        if self._capacity <= 0:
            return
        if len(self._routes) >= self._capacity:
            # Evict the oldest insertion: dicts keep insertion order, so this is O(1).
            del self._routes[next(iter(self._routes))]
        self._routes[subscriber] = route

    def drop(self, subscriber: str) -> None:
        self._routes.pop(subscriber, None)

    def __len__(self) -> int:
        return len(self._routes)
