"""Grant tokens: what the broker vouches for when a person uses a grant through the gateway.

A grant token is short-lived, bound to one user and one grant, and never outlives the grant. The broker signs
it (asymmetric key: the gateway can only verify); the gateway accepts it only for requests its grant covers,
and only while the grant has not been revoked. This module is the pure part: which claims, and their checks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kubejit.domain.errors import Conflict, Unauthenticated
from kubejit.domain.workflow import AccessRequest, State

ISSUER = "kubejit-broker"
AUDIENCE = "kubejit-gateway"
DEFAULT_TTL = timedelta(minutes=5)


@dataclass(frozen=True)
class GrantClaims:
    """The verified content of a grant token."""

    user: str
    groups: frozenset[str]
    grant_id: str
    profile: str
    namespaces: tuple[str, ...]
    expires_at: datetime


def claims_for(request: AccessRequest, now: datetime, ttl: timedelta = DEFAULT_TTL) -> dict[str, Any]:
    """The claims of a token for an active grant: expiring at ``now + ttl`` or the grant's end, if sooner."""
    if request.state is not State.ACTIVE or request.ends_at is None or now >= request.ends_at:
        raise Conflict(f"{request.id} is {request.state}: tokens are issued only for active grants")
    expires = min(now + ttl, request.ends_at)
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": request.requester.user,
        "groups": sorted(request.requester.groups),
        "gid": request.id,
        "profile": request.profile,
        "ns": list(request.namespaces),
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()) - 5,
        "exp": int(expires.timestamp()),
        "jti": uuid.uuid4().hex,
    }


def read_claims(claims: dict[str, Any], now: datetime) -> GrantClaims:
    """Check the claims of a token whose signature was verified; raise Unauthenticated saying what is wrong."""
    if claims.get("iss") != ISSUER or claims.get("aud") != AUDIENCE:
        raise Unauthenticated("this is not a kubejit grant token: get one with `kubejit token --grant ID`")
    try:
        expires = int(claims["exp"])
        not_before = int(claims["nbf"])
        user, grant_id, profile = str(claims["sub"]), str(claims["gid"]), str(claims["profile"])
        groups = frozenset(str(g) for g in claims.get("groups", []))
        namespaces = tuple(str(n) for n in claims.get("ns", []))
    except (KeyError, TypeError, ValueError) as error:
        raise Unauthenticated(f"the grant token lacks a valid claim ({error})") from None
    moment = now.timestamp()
    if moment >= expires:
        raise Unauthenticated(f"the grant token of {grant_id} expired: kubectl will ask `kubejit token` for a new one")
    if moment < not_before:
        raise Unauthenticated("the grant token is not valid yet: check this machine's clock")
    if not user or not grant_id:
        raise Unauthenticated("the grant token names no user or grant")
    return GrantClaims(user, groups, grant_id, profile, namespaces, datetime.fromtimestamp(expires, tz=now.tzinfo))
