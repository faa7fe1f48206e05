"""The broker's HTTP API: routes, authentication, and kubejit's errors in HTTP.

Every route but health and metrics needs a bearer ID token, verified against the configured OIDC issuers;
the identity in it is the identity the cluster sees. Errors come back as ``{"error": {"type", "message"}}``
with the status that ``kubejit.domain.errors.ERROR_TABLE`` gives: 400 (bad input), 401 (no valid token), 403
(refused by policy), 404, 409 (wrong state), 413 (body too large) or 503.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kubejit import __version__
from kubejit.domain.durations import parse_duration
from kubejit.domain.errors import InvalidInput, KubejitError, NotFound, TooLarge, Unauthenticated, meaning_of
from kubejit.domain.policy import Identity
from kubejit.domain.workflow import State, Verdict
from kubejit.entrypoints.api.schemas import (
    AuditEventOut,
    CommentIn,
    ErrorEnvelope,
    ExtendIn,
    ProblemOut,
    RequestIn,
    RequestOut,
    RevokeIn,
    VerifyOut,
)
from kubejit.services.gateway_access import snapshot_digest
from kubejit.services.gateway_feed import GatewayFeed, require_gateway

if TYPE_CHECKING:
    from kubejit.bootstrap import Broker


def error_response(error: KubejitError) -> JSONResponse:
    meaning = meaning_of(error)
    headers = {"WWW-Authenticate": 'Bearer realm="kubejit"'} if meaning.http_status == 401 else None
    return JSONResponse(
        {"error": {"type": meaning.api_type, "message": str(error)}}, status_code=meaning.http_status, headers=headers
    )


def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Identity:
    """The identity in the bearer ID token, verified against the configured issuers."""
    if not authorization:
        raise Unauthenticated("send an ID token: Authorization: Bearer <token> (or set KUBEJIT_TOKEN for the CLI)")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <ID token>'")
    broker: Broker = request.app.state.broker
    return broker.verifier.verify(token.strip())


Caller = Annotated[Identity, Depends(caller)]


def gateway_caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """A kubejit gateway, authenticated by the shared secret whose hash the broker's config holds."""
    broker: Broker = request.app.state.broker
    expected = broker.config.gateway.client_token_sha256 if broker.config.gateway else None
    scheme, _, secret = (authorization or "").partition(" ")
    return require_gateway(secret.strip() if scheme.lower() == "bearer" else None, expected)


GatewayCaller = Annotated[str, Depends(gateway_caller)]


MAX_BODY_BYTES = 64 * 1024
MAX_ACTIVITY_BODY_BYTES = 4 * 1024 * 1024  # batches of activity from the gateways
STREAM_INTERVAL = 0.25


class BodyLimit:
    """ASGI middleware: refuse request bodies over the limit before anything parses them (the body of an
    unauthenticated request would otherwise be read and parsed before its token is checked)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = MAX_ACTIVITY_BODY_BYTES if scope["path"] == "/api/v1/gateway/activity" else MAX_BODY_BYTES
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse_body(limit, scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _refuse_body(limit, scope, receive, send)


async def _refuse_body(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(TooLarge(f"the request body is larger than {limit} bytes"))
    await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_app(broker: Broker) -> FastAPI:
    app = FastAPI(
        title="kubejit broker",
        version=__version__,
        description="Just-In-Time access for Kubernetes: requests, approvals, time-bound grants, audit.",
        responses={400: {"model": ErrorEnvelope}, 401: {"model": ErrorEnvelope}, 403: {"model": ErrorEnvelope}},
    )
    app.state.broker = broker
    app.add_middleware(BodyLimit)

    @app.exception_handler(KubejitError)
    def kubejit_error(_: Request, error: KubejitError) -> JSONResponse:
        broker.metrics.api_error(type(error).__name__)
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    def bad_body(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in error.errors()
        )
        return error_response(InvalidInput(f"the request body is not valid: {problems}"))

    # ---- health and metrics ----------------------------------------------------------------------------------

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> PlainTextResponse:
        ready, detail = broker.readiness()
        return PlainTextResponse(detail, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(broker.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # ---- requests --------------------------------------------------------------------------------------------

    @app.get("/api/v1/whoami")
    def whoami(who: Caller) -> dict[str, object]:
        return {"user": who.user, "groups": sorted(who.groups)}

    @app.post("/api/v1/requests", status_code=201, response_model=RequestOut)
    def create_request(
        body: RequestIn, who: Caller, idempotency_key: Annotated[str | None, Header(max_length=200)] = None
    ) -> RequestOut:
        duration = parse_duration(body.duration) if body.duration else None
        request = broker.access.submit(
            who,
            profile=body.profile,
            namespaces=tuple(body.namespaces),
            duration=duration,
            reason=body.reason,
            break_glass=body.break_glass,
            idempotency_key=idempotency_key,
        )
        broker.metrics.operation("submit", str(request.state))
        return RequestOut.of(request)

    @app.get("/api/v1/requests", response_model=list[RequestOut])
    def list_requests(
        who: Caller,
        state: Annotated[list[State] | None, Query()] = None,
        mine: bool = False,
        reviewable: bool = False,
    ) -> list[RequestOut]:
        found = broker.access.list(who, states=state, mine=mine, reviewable=reviewable)
        return [RequestOut.of(r) for r in found]

    @app.get("/api/v1/requests/{request_id}", response_model=RequestOut)
    def get_request(request_id: str, who: Caller) -> RequestOut:
        return RequestOut.of(broker.access.get(who, request_id))

    @app.post("/api/v1/requests/{request_id}/approve", response_model=RequestOut)
    def approve(request_id: str, body: CommentIn, who: Caller) -> RequestOut:
        result = RequestOut.of(broker.access.approve(who, request_id, body.comment))
        broker.metrics.operation("approve", result.state)
        return result

    @app.post("/api/v1/requests/{request_id}/deny", response_model=RequestOut)
    def deny(request_id: str, body: CommentIn, who: Caller) -> RequestOut:
        return RequestOut.of(broker.access.deny(who, request_id, body.comment))

    @app.post("/api/v1/requests/{request_id}/cancel", response_model=RequestOut)
    def cancel(request_id: str, who: Caller) -> RequestOut:
        return RequestOut.of(broker.access.cancel(who, request_id))

    @app.post("/api/v1/requests/{request_id}/revoke", response_model=RequestOut)
    def revoke(request_id: str, body: RevokeIn, who: Caller) -> RequestOut:
        return RequestOut.of(broker.access.revoke(who, request_id, body.reason))

    @app.post("/api/v1/requests/{request_id}/extend", response_model=RequestOut)
    def extend(request_id: str, body: ExtendIn, who: Caller) -> RequestOut:
        return RequestOut.of(broker.access.extend(who, request_id, parse_duration(body.duration), body.reason))

    @app.post("/api/v1/requests/{request_id}/extension/{verdict}", response_model=RequestOut)
    def review_extension(request_id: str, verdict: Verdict, body: CommentIn, who: Caller) -> RequestOut:
        return RequestOut.of(broker.access.review_extension(who, request_id, verdict, body.comment))

    @app.post("/api/v1/requests/{request_id}/break-glass-review/{verdict}", response_model=RequestOut)
    def review_break_glass(request_id: str, verdict: Verdict, body: CommentIn, who: Caller) -> RequestOut:
        return RequestOut.of(broker.access.review_break_glass(who, request_id, verdict, body.comment))

    @app.get("/api/v1/grants", response_model=list[RequestOut])
    def grants(who: Caller, mine: bool = False) -> list[RequestOut]:
        return [RequestOut.of(r) for r in broker.access.list(who, states=[State.ACTIVE], mine=mine)]

    # ---- the gateway ---------------------------------------------------------------------------------------------

    def feed() -> GatewayFeed:
        if broker.gateway is None:
            raise NotFound("this broker has no gateway configured")
        return broker.gateway

    @app.post("/api/v1/requests/{request_id}/token")
    def grant_token(request_id: str, who: Caller) -> dict[str, object]:
        """A short-lived token for using your active grant through the gateway (kubectl's exec plugin)."""
        issued = feed().issue_token(who, request_id)
        return {"token": issued.token, "expiresAt": issued.expires_at.isoformat(), "grant": issued.grant_id}

    @app.get("/api/v1/gateway/info")
    def gateway_info(_: Caller) -> dict[str, object]:
        """Where the gateway is, and the CA of its certificate, for `kubejit kubeconfig`."""
        link = broker.config.gateway
        if link is None:
            raise NotFound("this broker has no gateway configured")
        ca = base64.b64encode(link.ca_file.read_bytes()).decode() if link.ca_file else None
        return {"url": link.url, "certificateAuthorityData": ca}

    @app.get("/.well-known/kubejit-gateway-keys", include_in_schema=False)
    def gateway_keys() -> dict[str, object]:
        return feed().public_keys

    @app.get("/api/v1/gateway/grants")
    def gateway_grants(_: GatewayCaller) -> dict[str, Any]:
        """The active grants and the audit revision they were read at (see GatewayFeed.active_grants)."""
        return feed().active_grants()

    @app.get("/api/v1/gateway/grants/stream", response_class=StreamingResponse)
    async def gateway_grants_stream(_: GatewayCaller) -> StreamingResponse:
        """Server-sent events: the active grants when they change, otherwise a heartbeat with their digest.

        Both go out every STREAM_INTERVAL. The digest lets a gateway whose book differs from this snapshot
        (it also installs snapshots it reads on demand, which may be older, or hold a grant this stream never
        showed) read the grants again at once."""
        source = feed()

        async def events() -> AsyncIterator[bytes]:
            last: str | None = None
            while True:
                snapshot = await anyio.to_thread.run_sync(source.active_grants)
                text = json.dumps(snapshot["grants"], sort_keys=True)
                if text != last:
                    yield f"event: grants\ndata: {json.dumps(snapshot, sort_keys=True)}\n\n".encode()
                    last = text
                else:
                    beat = {"digest": snapshot_digest(snapshot["grants"]), "revision": snapshot["revision"]}
                    yield f"event: heartbeat\ndata: {json.dumps(beat)}\n\n".encode()
                await anyio.sleep(STREAM_INTERVAL)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @app.post("/api/v1/gateway/activity", status_code=204)
    def gateway_activity(
        events: list[dict[str, Any]],
        gateway: GatewayCaller,
        instance: Annotated[str | None, Header(alias="Kubejit-Gateway-Instance")] = None,
    ) -> Response:
        """Record a batch of a gateway's activity; events it numbered and already sent are not recorded twice."""
        feed().record_activity(gateway, events, instance)
        return Response(status_code=204)

    # ---- audit -----------------------------------------------------------------------------------------------

    @app.get("/api/v1/audit", response_model=list[AuditEventOut])
    def audit(
        who: Caller,
        request_id: Annotated[str | None, Query(alias="requestId")] = None,
        user: str | None = None,
        since: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[AuditEventOut]:
        if since is not None and since.tzinfo is None:
            raise InvalidInput("since needs a time zone, e.g. 2026-11-28T12:00:00Z")
        events = broker.audit.query(who, request_id=request_id, user=user, since=since, limit=limit)
        return [AuditEventOut.of(e) for e in events]

    @app.get("/api/v1/audit/export", response_class=StreamingResponse)
    def audit_export(who: Caller) -> StreamingResponse:
        events = broker.audit.export(who)
        first = next(events, None)  # raises Refused here, before the response starts

        def lines() -> Iterator[bytes]:
            if first is not None:
                yield json.dumps(first.to_json(), sort_keys=True).encode() + b"\n"
            for event in events:
                yield json.dumps(event.to_json(), sort_keys=True).encode() + b"\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/api/v1/audit/verify", response_model=VerifyOut)
    def audit_verify(who: Caller) -> VerifyOut:
        result = broker.audit.verify(who)
        return VerifyOut(
            ok=result.ok,
            events=result.events,
            head_seq=result.head.seq if result.head else 0,
            head_hash=result.head.hash if result.head else "",
            checkpoint_seq=result.checkpoint.seq if result.checkpoint else None,
            problems=[ProblemOut(seq=p.seq, kind=str(p.kind), message=p.message) for p in result.problems],
        )

    return app
