"""Who is calling the gateway: a bearer token turned into an :class:`Identity` (user, groups and, for a grant
token, the one grant it names).

The gateway accepts grant tokens (signed by the broker, verified with its public keys) and, when an OIDC
issuer is configured, ID tokens (then any of the user's grants that covers a request may be used). Whatever
the token kind, the user and groups it names must pass :mod:`kubejit.domain.identity_names` (no surrounding
whitespace, no invisible characters, no ``system:`` names), since they become ``Impersonate-*`` headers: a
broker or issuer that let such a name through does not get it past the gateway. The gateway's connection
handler calls :meth:`GatewayAuthentication.authenticate` once per request; the bootstrap (``build_gateway``)
builds it from the broker's keys and the configured issuer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from kubejit.domain.errors import Unauthenticated
from kubejit.domain.grant_token import GrantClaims
from kubejit.domain.identity_names import group_name_problem, quoted, user_name_problem
from kubejit.ports import TokenVerifier


@dataclass(frozen=True)
class Identity:
    """The caller of one gateway request."""

    user: str
    groups: frozenset[str]
    grant_id: str | None  # None for an OIDC ID token: any of the user's grants that covers the request


class GrantTokenCheck(Protocol):
    def verify(self, token: str, now: datetime) -> GrantClaims:
        """The claims of a valid grant token; raises Unauthenticated when it is not valid at ``now``."""
        ...


class VerifiedGrantTokens:
    """Grant tokens whose signature has been verified, so that it is verified once per token, not per request.

    kubectl sends the same token on every request until it expires, and the ES256 signature check is the
    costliest step the gateway takes per request. Only successful verifications are remembered, keyed by the
    exact token text; the expiry is checked again on every request (the one claim that changes with time),
    and the grant itself is looked up in the grant book every time, so a revoke still ends access at once.
    """

    def __init__(self, verifier: GrantTokenCheck, size: int = 4096) -> None:
        self._verifier = verifier
        self._size = size
        self._verified: dict[str, GrantClaims] = {}

    def verify(self, token: str, now: datetime) -> GrantClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verifier.verify(token, now)  # raises Unauthenticated
            if len(self._verified) >= self._size:
                self._verified.pop(next(iter(self._verified)))  # the oldest entry
            self._verified[token] = claims
        elif now >= claims.expires_at:
            del self._verified[token]
            raise Unauthenticated(
                f"the grant token of {claims.grant_id} expired: kubectl will ask `kubejit token` for a new one"
            )
        return claims


class GatewayAuthentication:
    """A grant token first; failing that, an ID token of the configured issuer (if there is one)."""

    def __init__(self, grant_tokens: GrantTokenCheck, id_tokens: TokenVerifier | None = None) -> None:
        self._grant_tokens = grant_tokens
        self._id_tokens = id_tokens

    def authenticate(self, token: str, now: datetime) -> Identity:
        """The caller that ``token`` proves; raises Unauthenticated (or Unavailable: the issuer's keys cannot be
        fetched) otherwise."""
        try:
            claims = self._grant_tokens.verify(token, now)
        except Unauthenticated:
            if self._id_tokens is None:
                raise
            who = self._id_tokens.verify(token)
            return _checked(Identity(who.user, who.groups, None), "ID token")
        return _checked(Identity(claims.user, claims.groups, claims.grant_id), f"grant token of {claims.grant_id}")


def _checked(identity: Identity, token_kind: str) -> Identity:
    """``identity`` when its user and every group are names kubejit accepts; Unauthenticated otherwise (a bad
    group refuses the whole token: dropping it would change who the cluster sees)."""
    problem = user_name_problem(identity.user)
    if problem is not None:
        raise Unauthenticated(f"the {token_kind} names the user {quoted(identity.user)}, which {problem}")
    for group in sorted(identity.groups):
        problem = group_name_problem(group)
        if problem is not None:
            raise Unauthenticated(f"the {token_kind} names the group {quoted(group)}, which {problem}")
    return identity
