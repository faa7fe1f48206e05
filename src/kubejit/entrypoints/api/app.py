"""The broker's HTTP API: ``create_app(broker)``, called by ``kubejit serve`` and by tests.

The routes live in ``routes/`` (one router per job), what they share in ``dependencies``, the body limit in
``body_limit`` and kubejit's errors in HTTP in ``errors``. Every route but health, metrics and the login
options (``routes/login``) needs a bearer ID token, verified against the configured OIDC issuers; the identity in
it is the identity the cluster sees. ``/docs`` is the API reference, rendered here (``docs_page``): it works
offline, unlike FastAPI's CDN-loaded pages, which are off.
Errors come back as ``{"error": {"type", "message"}}`` with the status that ``kubejit.domain.errors.ERROR_TABLE``
gives: 400 (bad input), 401 (no valid token), 403 (refused by policy), 404, 409 (wrong state), 413 (body too
large) or 503.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from kubejit import __version__
from kubejit.entrypoints.api.body_limit import BodyLimit
from kubejit.entrypoints.api.docs_page import docs_page
from kubejit.entrypoints.api.errors import error_response, install_error_handlers
from kubejit.entrypoints.api.routes import ROUTERS
from kubejit.entrypoints.api.schemas import ErrorEnvelope
from kubejit.entrypoints.console import router as console_router

if TYPE_CHECKING:
    from kubejit.bootstrap import Broker

__all__ = ["create_app", "error_response"]


def create_app(broker: Broker) -> FastAPI:
    app = FastAPI(
        title="kubejit broker",
        version=__version__,
        description="Just-In-Time access for Kubernetes: requests, approvals, time-bound grants, audit.",
        responses={400: {"model": ErrorEnvelope}, 401: {"model": ErrorEnvelope}, 403: {"model": ErrorEnvelope}},
        docs_url=None,  # FastAPI's Swagger UI and ReDoc load from a CDN: /docs is ours (docs_page), offline
        redoc_url=None,
    )
    app.state.broker = broker
    app.add_middleware(BodyLimit)
    install_error_handlers(app)
    for router in (*ROUTERS, console_router):
        app.include_router(router)

    @app.get("/docs", include_in_schema=False)
    def api_reference() -> HTMLResponse:
        return HTMLResponse(docs_page(app.openapi()))

    return app
