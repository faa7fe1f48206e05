"""The request body limit, as ASGI middleware in front of every route (``create_app`` adds it).

Bodies over the limit are refused with a 413 before anything parses them: the body of an unauthenticated
request would otherwise be read and parsed before its token is checked. Gateways send activity in batches,
so their one route has a larger limit.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kubejit.domain.errors import TooLarge
from kubejit.entrypoints.api.errors import error_response

MAX_BODY_BYTES = 64 * 1024
MAX_ACTIVITY_BODY_BYTES = 4 * 1024 * 1024  # batches of activity from the gateways
ACTIVITY_PATH = "/api/v1/gateway/activity"


def limit_for(path: str) -> int:
    return MAX_ACTIVITY_BODY_BYTES if path == ACTIVITY_PATH else MAX_BODY_BYTES


class BodyLimit:
    """Refuses a body whose Content-Length is over the limit, or that grows over it while it is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
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
