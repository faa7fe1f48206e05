"""Health and metrics for the platform around the broker (probes, Prometheus); no token, not in the OpenAPI."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kubejit.entrypoints.api.dependencies import BrokerDep

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok")


@router.get("/readyz", include_in_schema=False)
def readyz(broker: BrokerDep) -> PlainTextResponse:
    ready, detail = broker.readiness()
    return PlainTextResponse(detail, status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(broker: BrokerDep) -> Response:
    return Response(generate_latest(broker.metrics.registry), media_type=CONTENT_TYPE_LATEST)
