"""Helpers for the tests of stored login sessions: unsigned ID tokens and session documents."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

ISSUER = "https://idp.example/realms/staff"
CLIENT_ID = "kubejit"


def _segment(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def id_token(
    sub: str = "alice", *, ttl: float = 3600, issuer: str = ISSUER, aud: Any = CLIENT_ID, **claims: Any
) -> str:
    """A compact JWS whose payload the client reads (the signature is the broker's business: here a dummy)."""
    payload = {"iss": issuer, "aud": aud, "sub": sub, "exp": int(time.time() + ttl), **claims}
    return f"{_segment({'alg': 'RS256'})}.{_segment(payload)}.c2lnbmF0dXJl"


def session_document(
    server: str,
    *,
    ttl: float = 3600,
    refresh_token: str | None = "refresh-1",  # noqa: S107
    **fields: Any,
) -> dict[str, Any]:
    token = fields.pop("idToken", None) or id_token(ttl=ttl)
    exp = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))["exp"]
    return {
        "server": server,
        "issuer": ISSUER,
        "issuerName": "staff",
        "clientId": CLIENT_ID,
        "clientSecret": None,
        "tokenEndpoint": "https://idp.example/realms/staff/token",
        "revocationEndpoint": None,
        "caData": None,
        "idToken": token,
        "idTokenExpiresAt": exp,
        "refreshToken": refresh_token,
        "user": "alice",
        "loggedInAt": int(time.time()),
        **fields,
    }
