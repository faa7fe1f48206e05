"""kubejit's errors in HTTP, in one place: the status and envelope every route, the body limit and the
validation of request bodies answer with.

The status comes from ``kubejit.domain.errors.meaning_of`` (the one error table); the body is
``{"error": {"type", "message"}}``. ``create_app`` installs the handlers; ``BodyLimit`` and tests call
``error_response`` directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from kubejit.domain.errors import InvalidInput, KubejitError, meaning_of

if TYPE_CHECKING:
    from kubejit.bootstrap import Broker


def error_response(error: KubejitError) -> JSONResponse:
    """The error envelope with the status the error table gives (and a Bearer challenge with a 401)."""
    meaning = meaning_of(error)
    headers = {"WWW-Authenticate": 'Bearer realm="kubejit"'} if meaning.http_status == 401 else None
    return JSONResponse(
        {"error": {"type": meaning.api_type, "message": str(error)}}, status_code=meaning.http_status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer kubejit's errors (counted in the broker's metrics) and invalid request bodies as errors."""
    app.add_exception_handler(KubejitError, _kubejit_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_body)  # type: ignore[arg-type]


def _kubejit_error(request: Request, error: KubejitError) -> JSONResponse:
    broker: Broker = request.app.state.broker
    broker.metrics.api_error(type(error).__name__)
    return error_response(error)


def _invalid_body(_: Request, error: RequestValidationError) -> JSONResponse:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in error.errors()
    )
    return error_response(InvalidInput(f"the request body is not valid: {problems}"))
