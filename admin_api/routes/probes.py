"""`/healthz`, `/readyz` and `/metrics`: what an orchestrator and Prometheus ask, without a key.

Alive is answering at all. Ready is Postgres and Redis answering: every operation reads Postgres
and most touch Redis. The engine is not checked: reads and most changes work without it, its own
gRPC health check says whether it is up, and taking the admin API out of service would not bring
it back. None of the three is in the OpenAPI document, which describes the API that keys open
(docs/health.md).
"""

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from admin_api.routes.answering import router as new_router
from tarif_common.readiness import probe
from tarif_postgres import db

router = new_router(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "alive"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    readiness = await probe({"postgres": lambda: db.ping(state.pool), "redis": state.redis.ping})
    status, media_type, body = readiness.answer()
    return JSONResponse(body, status_code=status, media_type=media_type)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """The process' registry (`admin_api.metrics`), in the format the scraper asks for."""
    registry: CollectorRegistry = request.app.state.registry
    encoder, media_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(registry), media_type=media_type)
