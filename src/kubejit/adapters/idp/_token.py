"""Reads a bearer token as a compact JWS before anything in it is trusted, then checks its signature.

Why it exists: the verifier routes a token to its issuer by the unverified ``iss`` and picks the algorithm and
key from the unverified header, so it must then verify the very bytes it read. joserfc parses the compact form
(:func:`joserfc.jws.extract_compact`) and checks the signature (:func:`joserfc.jws.validate_compact`); this
module adds kubejit's limits and policy on top: a size bound, the algorithm allow-list (``alg: none`` and every
``HS*`` are refused before any key is looked at), the type of ``kid``, and refusals that never quote the token.
``OidcVerifier.verify`` (``_verifier``) is the caller.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jws
from joserfc.errors import ExceededSizeError, JoseError, MissingAlgorithmError

from kubejit.adapters.idp._issuer import SUPPORTED_ALGORITHMS, OidcIssuer
from kubejit.adapters.idp._jwks import PublicKey
from kubejit.domain.errors import Unauthenticated
from kubejit.domain.identity_names import quoted

_MAX_TOKEN_LENGTH = 64 * 1024
# One registry per algorithm, so joserfc verifies with exactly the algorithm kubejit chose and no other.
_SIGNATURES: Final[Mapping[str, jws.JWSRegistry]] = {
    alg: jws.JWSRegistry(algorithms=[alg], strict_check_header=False) for alg in SUPPORTED_ALGORITHMS
}
_TOO_LONG = "the bearer token is too long to be an ID token"
_NOT_JSON = "the bearer token is not a well-formed JWT: its header or claims are not JSON"


@dataclass(frozen=True)
class UnverifiedToken:
    """A token as it states itself: header and claims are only good for routing until :meth:`verified_claims`."""

    signed: jws.CompactSignature
    header: Mapping[str, Any]
    claims: Mapping[str, Any]

    def key_id(self) -> str | None:
        kid = self.header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("the token's key id (kid) is not a string")
        return kid

    def algorithm(self, issuer: OidcIssuer) -> str:
        """The header's ``alg`` if ``issuer`` allows it; refuses unsigned and shared-secret tokens by name."""
        alg = self.header.get("alg")
        allowed = ", ".join(issuer.allowed_algorithms)
        if not isinstance(alg, str) or not alg:
            raise Unauthenticated("the token's header names no signing algorithm (alg)")
        if alg.lower() == "none":
            raise Unauthenticated(f"the token is not signed (alg none); only tokens signed with {allowed} are accepted")
        if alg.upper().startswith("HS"):
            raise Unauthenticated(
                f"the token is signed with a shared secret ({quoted(alg, 120)}); only public-key signatures "
                f"({allowed}) from {issuer.url} are accepted"
            )
        if alg not in issuer.allowed_algorithms:
            raise Unauthenticated(
                f"the token is signed with {quoted(alg, 120)}, which is not allowed for {issuer.url}; "
                f"allowed: {allowed}"
            )
        return alg

    def verified_claims(self, key: PublicKey, alg: str, issuer: OidcIssuer) -> Mapping[str, Any]:
        """The claims, once the signature checks out with ``key`` and ``alg`` (an allowed one, see
        :meth:`algorithm`); raises Unauthenticated otherwise."""
        try:
            valid = jws.validate_compact(self.signed, key.key, registry=_SIGNATURES[alg])
        except (JoseError, ValueError, TypeError) as error:
            raise _not_from(issuer) from error
        if not valid:
            raise _not_from(issuer)
        return self.claims


def read_token(token: object) -> UnverifiedToken:
    """Parse ``token`` as a compact JWS with JSON claims; raises Unauthenticated (never quoting it) when it is not."""
    if not isinstance(token, str) or not token:
        raise Unauthenticated("no bearer token was sent; log in (kubejit login) and try again")
    if len(token) > _MAX_TOKEN_LENGTH:
        raise Unauthenticated(_TOO_LONG)
    try:
        signed = jws.extract_compact(token.encode())
    except MissingAlgorithmError as error:
        raise Unauthenticated("the token's header names no signing algorithm (alg)") from error
    except ExceededSizeError as error:
        raise Unauthenticated(_TOO_LONG) from error
    except (JoseError, ValueError, TypeError) as error:
        if token.count(".") != 2:
            raise Unauthenticated(
                "the bearer token is not a signed JWT (three base64url parts separated by dots); send an ID token"
            ) from error
        raise Unauthenticated(_NOT_JSON) from error
    try:
        claims = json.loads(signed.payload)
    except ValueError as error:
        raise Unauthenticated(_NOT_JSON) from error
    header = signed.headers()
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise Unauthenticated("the bearer token is not a well-formed JWT: its header or claims are not JSON objects")
    if header.get("b64") is False:  # RFC 7797 unencoded payload: joserfc reads it, a JWT never has one
        raise Unauthenticated("the bearer token is not a JWT: its claims are not base64url-encoded (b64: false)")
    return UnverifiedToken(signed, header, claims)


def _not_from(issuer: OidcIssuer) -> Unauthenticated:
    return Unauthenticated(
        f"the token's signature does not verify with the keys of {issuer.url}: it was altered or not "
        "issued there; get a new token"
    )
