"""Validates OpenID Connect ID tokens against the keys their issuer publishes.

Why it exists: kubejit must see the same identity kube-apiserver sees (DESIGN.md section 6), and both trust the
same issuers. The broker's API and the gateway call :meth:`OidcVerifier.verify` for every request, from a thread
pool, so the hot path is a dictionary lookup and one signature check. ``kubejit.bootstrap`` builds the verifier.

One token goes through these steps, each refusing by raising :class:`~kubejit.domain.errors.Unauthenticated`
(never ``assert``), with a message that says what to do and never contains the token:

1. read it as a compact JWS (``_token``); the unverified ``iss`` chooses among the configured issuers;
2. the header's algorithm must be on that issuer's allow-list: ``alg: none`` and every ``HS*`` are refused before
   any key is looked at, and the key must have the type (and curve) the algorithm needs, so a public key can
   never be used as an HMAC secret (algorithm confusion);
3. the key the header names comes from the issuer's cached key set (``_key_cache``, ``_jwks``);
4. the signature must verify with it, and then the claims must hold at the Clock's "now" (``_claims``).

An issuer that cannot be reached, or that publishes something unusable, raises
:class:`~kubejit.domain.errors.Unavailable`: that is for the operator to fix, not the token holder.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Self

import httpx

from kubejit.adapters.clock import SystemClock
from kubejit.adapters.idp._claims import identity_from
from kubejit.adapters.idp._issuer import OidcIssuer
from kubejit.adapters.idp._key_cache import IssuerKeys
from kubejit.adapters.idp._token import read_token
from kubejit.domain.errors import InvalidInput, Unauthenticated
from kubejit.domain.identity_names import quoted
from kubejit.domain.policy import Identity
from kubejit.ports import Clock


class OidcVerifier:
    """A :class:`~kubejit.ports.TokenVerifier` for ID tokens of configured OpenID Connect issuers.

    Thread-safe. ``clock`` gives "now" for every check (the system clock when omitted). ``http`` (optional) is
    used for every issuer and stays the caller's to close; without it one client per issuer is made, trusting
    that issuer's ``ca_pem``, and :meth:`close` closes them. ``min_refetch_interval`` limits how often a token
    naming an unknown key may trigger a fetch; ``max_key_age`` is how long a key set is used before it is
    fetched again in passing.
    """

    def __init__(
        self,
        issuers: Sequence[OidcIssuer],
        *,
        clock: Clock | None = None,
        http: httpx.Client | None = None,
        min_refetch_interval: timedelta = timedelta(seconds=60),
        max_key_age: timedelta = timedelta(minutes=10),
        request_timeout: timedelta = timedelta(seconds=5),
    ) -> None:
        if not issuers:
            raise InvalidInput("configure at least one OIDC issuer")
        if min_refetch_interval < timedelta(0) or max_key_age <= timedelta(0):
            raise InvalidInput("min_refetch_interval must not be negative and max_key_age must be positive")
        self._clock: Clock = clock or SystemClock()
        self._owned: list[httpx.Client] = []
        self._issuers: dict[str, IssuerKeys] = {}
        try:
            for issuer in issuers:
                if issuer.url in self._issuers:
                    raise InvalidInput(f"OIDC issuer {issuer.url} is configured twice; configure each issuer once")
                client = http or self._client_for(issuer, request_timeout)
                self._issuers[issuer.url] = IssuerKeys(
                    issuer, client, min_refetch_interval=min_refetch_interval, max_key_age=max_key_age
                )
        except BaseException:
            self.close()
            raise

    def _client_for(self, issuer: OidcIssuer, timeout: timedelta) -> httpx.Client:
        client = httpx.Client(
            verify=issuer.ssl_context(),
            timeout=timeout.total_seconds(),
            follow_redirects=False,
            headers={"User-Agent": "kubejit"},
        )
        self._owned.append(client)
        return client

    def close(self) -> None:
        """Close the HTTP clients this verifier made (not one passed in)."""
        while self._owned:
            self._owned.pop().close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- TokenVerifier ----------------------------------------------------------------------------------

    def verify(self, token: str) -> Identity:
        """The identity in ``token``; raises Unauthenticated when it is not valid here, Unavailable when the
        issuer's keys cannot be fetched."""
        unverified = read_token(token)
        issuer_keys = self._issuer_of(unverified.claims.get("iss"))
        issuer = issuer_keys.issuer
        alg = unverified.algorithm(issuer)
        kid = unverified.key_id()
        now = self._clock.now()
        key = issuer_keys.key_for(kid, alg, now)
        return identity_from(unverified.verified_claims(key, alg, issuer), issuer, now)

    def _issuer_of(self, iss: object) -> IssuerKeys:
        found = self._issuers.get(iss) if isinstance(iss, str) else None
        if found is None:
            accepted = ", ".join(sorted(self._issuers))
            if iss is None:
                raise Unauthenticated(f"the token names no issuer (iss); tokens from {accepted} are accepted here")
            raise Unauthenticated(f"tokens from {quoted(iss, 120)} are not accepted here; accepted issuers: {accepted}")
        return found
