"""Input every endpoint refuses before its handler runs, as app-level dependencies.

- A query parameter the operation does not declare (itself or through a dependency such as
  paging's `limit`/`cursor`/`sort`) is a 422 naming it: a misspelt filter must not quietly
  return everything.
- NUL characters anywhere in the query or body: Postgres text cannot hold them.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from tarif_common.errors import InvalidRequest


def declared_query(dependant: Dependant) -> set[str]:
    """The query parameters an operation takes, its dependencies' included (a walk over a
    handful of nodes: cheaper than caching it per route, which FastAPI makes unhashable)."""
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= declared_query(dependency)
    return names


async def reject_unknown_query(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = declared_query(route.dependant)
    unknown = sorted({name for name in request.query_params if name not in declared})
    if unknown:
        takes = ", ".join(sorted(declared)) or "none"
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": f"unknown query parameter (this operation takes: {takes})",
                    "input": request.query_params[name],
                }
                for name in unknown
            ]
        )


async def reject_nul(request: Request) -> None:
    """Postgres text cannot hold NUL: refuse it at the edge (query or body), with a clear 422."""
    if "%00" in request.url.query or "\x00" in request.url.query:
        raise InvalidRequest("query", "must not contain NUL characters")
    if request.method in ("POST", "PUT", "PATCH"):
        body = await request.body()  # cached: the endpoint reads the same bytes
        if b"\x00" in body or b"\\u0000" in body:
            raise InvalidRequest("body", "must not contain NUL characters")
