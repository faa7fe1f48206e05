"""Checks the claims of a token whose signature verified: issued here, for us, valid now; and whom it names.

Why it exists: a good signature only says who wrote the claims. joserfc's ``JWTClaimsRegistry`` does the
registered-claims checks (the ``iss`` and ``aud`` values; ``exp``, ``nbf`` and ``iat`` against "now", within the
issuer's clock skew), with "now" always given by the caller (the verifier reads its Clock once per token), so
expiry is tested without sleeping. This module fixes the order of the checks, words each refusal so the token
holder can act on it, and reads the user name and groups as kube-apiserver does (an email only when verified; a
single string is one group; the issuer's usernamePrefix and groupsPrefix put first), refusing prefixed names
kubejit and kube-apiserver could read differently or that Kubernetes keeps for itself
(:mod:`kubejit.domain.identity_names`), and keeps the issuer's ``policyClaims`` (``_policy_claims``).
``OidcVerifier.verify`` (``_verifier``) calls :func:`identity_from`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from joserfc.errors import ClaimError
from joserfc.jwt import JWTClaimsRegistry

from kubejit.adapters.idp._issuer import OidcIssuer
from kubejit.adapters.idp._policy_claims import policy_claims
from kubejit.domain.errors import Unauthenticated
from kubejit.domain.identity_names import group_name_problem, quoted, user_name_problem
from kubejit.domain.policy import Identity


def identity_from(claims: Mapping[str, Any], issuer: OidcIssuer, now: datetime) -> Identity:
    """The identity ``claims`` name if they were issued by ``issuer`` for its audience and are valid at ``now``;
    raises Unauthenticated, saying what is wrong, otherwise."""
    _check_issuer_and_audience(claims, issuer)
    _check_times(claims, issuer.clock_skew, now)
    return Identity(
        _user(claims, issuer),
        _groups(claims.get(issuer.groups_claim), issuer),
        policy_claims(claims, issuer.policy_claims),
    )


# ---- registered claims -------------------------------------------------------------------------------------


def _check_issuer_and_audience(claims: Mapping[str, Any], issuer: OidcIssuer) -> None:
    registry = JWTClaimsRegistry(
        iss={"essential": True, "value": issuer.url},
        aud={"essential": True, "value": issuer.audience},
    )
    try:
        registry.validate(_present(claims, ("iss", "aud")))
    except ClaimError as error:
        if "iss" in error.claim.split(","):
            raise Unauthenticated(f"the token was not issued by {issuer.url}") from error
        raise _audience_refusal(claims.get("aud"), issuer) from error


def _audience_refusal(audience: object, issuer: OidcIssuer) -> Unauthenticated:
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        return Unauthenticated(f"the token names no audience (aud); get a token for audience {issuer.audience}")
    shown = ", ".join(quoted(a, 60) for a in audiences[:5]) or "none"
    return Unauthenticated(
        f"the token is for audience {shown}, not {issuer.audience!r}; get a token for {issuer.audience!r}"
    )


def _check_times(claims: Mapping[str, Any], skew: timedelta, now: datetime) -> None:
    """``exp`` is required, ``nbf`` and ``iat`` are checked when present; each may be off by ``skew``.

    joserfc compares with a whole-second "now" and a whole-second leeway; the skew is folded into "now" instead
    (``now - skew`` for expiry, ``now + skew`` for the start), so a sub-second skew still counts and whole-second
    claims (what identity providers issue) compare exactly as ``now >= exp + skew`` and ``now + skew < nbf``.
    """
    expiry = JWTClaimsRegistry(now=_whole_seconds(now - skew), exp={"essential": True})
    start = JWTClaimsRegistry(now=_whole_seconds(now + skew))
    for registry, name in ((expiry, "exp"), (start, "nbf"), (start, "iat")):
        value = claims.get(name)
        try:
            registry.validate(_present(claims, (name,)))
        except ClaimError as error:
            raise _time_refusal(name, value) from error
        if value is not None and _moment(value) is None:  # a finite number, but no calendar has that date
            raise _not_a_time(name, value)


def _time_refusal(name: str, value: object) -> Unauthenticated:
    """Why joserfc refused the time claim ``name``, in words for the token holder."""
    if value is None:
        return Unauthenticated(f"the token has no '{name}' claim; get a new one from your identity provider")
    moment = _moment(value)
    if moment is None:
        return _not_a_time(name, value)
    if name == "exp":
        return Unauthenticated(f"the token expired at {_when(moment)}; get a new one (kubejit login)")
    if name == "nbf":
        return Unauthenticated(
            f"the token is not valid before {_when(moment)}; check the clock of the machine that got it"
        )
    return Unauthenticated(
        f"the token claims to be issued at {_when(moment)}, in the future; check the clocks of this "
        "server and the identity provider"
    )


def _present(claims: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The named claims that have a value, in the order given (joserfc checks them in that order)."""
    return {name: claims[name] for name in names if claims.get(name) is not None}


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _moment(value: object) -> datetime | None:
    if not _is_number(value):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _not_a_time(name: str, value: object) -> Unauthenticated:
    if _is_number(value):
        return Unauthenticated(f"the token's '{name}' claim is not a valid time")
    return Unauthenticated(f"the token's '{name}' claim is not a time (seconds since 1970)")


def _whole_seconds(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# ---- who the token names -----------------------------------------------------------------------------------


def _user(claims: Mapping[str, Any], issuer: OidcIssuer) -> str:
    user = claims.get(issuer.username_claim)
    if not isinstance(user, str) or not user.strip():
        raise Unauthenticated(
            f"the token has no user name in its '{issuer.username_claim}' claim; ask for a token that "
            "includes it (check the requested scopes)"
        )
    if issuer.username_claim == "email" and claims.get("email_verified", True) is not True:
        # kube-apiserver refuses such tokens too: an unverified address names nobody in particular
        raise Unauthenticated("the token's email address is not verified by the identity provider")
    # The name the cluster sees (kube-apiserver puts the same prefix first) is the one checked and used.
    named = issuer.username_prefix + user
    problem = user_name_problem(named)
    if problem is not None:
        raise Unauthenticated(
            f"the token's user name (its '{issuer.username_claim}' claim{_with_prefix(issuer.username_prefix)}) "
            f"{quoted(named, 80)} {problem}; kubejit refuses such names: ask your IdP admin to fix the account"
        )
    return named


def _groups(value: object, issuer: OidcIssuer) -> frozenset[str]:
    """Group names (with the issuer's groups prefix); a missing claim means no groups. A single string is one
    group, as kube-apiserver reads it. Every prefixed group must be a name kubejit accepts, or the token is
    refused (an empty name is skipped, as before)."""
    claim = issuer.groups_claim
    if value is None:
        return frozenset()
    listed = [value] if isinstance(value, str) else value
    if not isinstance(listed, list) or not all(isinstance(group, str) for group in listed):
        raise Unauthenticated(f"the token's '{claim}' claim is not a list of group names; ask your IdP admin to fix it")
    groups = frozenset(issuer.groups_prefix + group for group in listed if group)
    for group in sorted(groups):
        problem = group_name_problem(group)
        if problem is not None:
            # Fail closed: dropping the group would change who the cluster sees (docs/security-model.md).
            raise Unauthenticated(
                f"the token's '{claim}' claim{_with_prefix(issuer.groups_prefix)} names the group "
                f"{quoted(group, 80)}, which {problem}; kubejit refuses the whole token rather than drop a group: "
                "ask your IdP admin to rename or stop sending it"
            )
    return groups


def _with_prefix(prefix: str) -> str:
    return f", after the prefix {quoted(prefix, 40)}" if prefix else ""
