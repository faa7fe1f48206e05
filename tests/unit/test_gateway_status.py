"""The gateway's own refusals: kubejit's errors as HTTP statuses and Kubernetes ``Status`` objects."""

from __future__ import annotations

import json

import pytest

from kubejit.domain.errors import InvalidInput, KubejitError, Refused, Unauthenticated, Unavailable
from kubejit.entrypoints.gateway import refusal_for, status_body


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (InvalidInput("x"), (400, "BadRequest")),
        (Unauthenticated("x"), (401, "Unauthorized")),
        (Refused("x"), (403, "Forbidden")),
        (Unavailable("x"), (503, "ServiceUnavailable")),
        (KubejitError("x"), (500, "InternalError")),  # the error table's fallback: refused, and said so
    ],
)
def test_each_error_has_its_status(error: KubejitError, expected: tuple[int, str]) -> None:
    assert refusal_for(error) == expected


def test_a_status_is_what_kubectl_prints() -> None:
    assert json.loads(status_body(403, "Forbidden", "no grant covers this")) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "no grant covers this",
        "reason": "Forbidden",
        "code": 403,
    }
