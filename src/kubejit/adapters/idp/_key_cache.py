"""The signing keys of one issuer: discovered, fetched, cached, refreshed, and looked up for a token.

Why it exists: the verifier runs for every request, from a thread pool, so looking a key up must be a dictionary
read, and the issuer must not be asked again for every token. :class:`IssuerKeys` fetches the discovery document
(from the issuer's ``discoveryUrl`` when one is configured; its ``issuer`` must still be the configured URL) and
then ``jwks_uri`` once, keeps the keys, renews them in passing when they grow old (one request's thread
fetches, the others go on with what is cached), and fetches again at once, at most every
``min_refetch_interval``, when a token names a key it does not know (key rotation). Documents are bounded
(1 MiB), redirects are not followed, and a failing issuer is asked at most every few seconds.

``OidcVerifier`` (``_verifier``) makes one per configured issuer and calls :meth:`IssuerKeys.key_for`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from kubejit.adapters.idp._issuer import OidcIssuer, fetch_url_problem
from kubejit.adapters.idp._jwks import PublicKey, match, parse_key_set
from kubejit.domain.errors import Unauthenticated, Unavailable
from kubejit.domain.identity_names import quoted

log = logging.getLogger(__name__)

_MAX_DOCUMENT_BYTES = 1024 * 1024
_RETRY_AFTER_FAILURE = timedelta(seconds=5)
_KEY_SET_TYPES = "application/jwk-set+json, application/json"


@dataclass(frozen=True)
class KeySnapshot:
    """The keys as one fetch left them; ``generation`` tells fetches apart."""

    keys: tuple[PublicKey, ...] = ()
    fetched_at: datetime | None = None  # None: never fetched successfully
    generation: int = 0


class IssuerKeys:
    """The cached key set of one issuer; reads are lock-free, fetches are serialized per issuer."""

    def __init__(
        self,
        issuer: OidcIssuer,
        http: httpx.Client,
        *,
        min_refetch_interval: timedelta,
        max_key_age: timedelta,
    ) -> None:
        self.issuer = issuer
        self._http = http
        self._min_refetch = min_refetch_interval
        self._max_age = max_key_age
        self._lock = threading.Lock()
        self._cache = KeySnapshot()
        self._last_attempt: datetime | None = None
        self._last_kid_fetch: datetime | None = None
        self._last_failure: tuple[datetime, str] | None = None

    # ---- the hot path -------------------------------------------------------------------------------------

    def key_for(self, kid: str | None, alg: str, now: datetime) -> PublicKey:
        """The published key a token names (or the only one for ``alg`` when it names none); raises
        Unauthenticated when the issuer does not publish it, Unavailable when the keys cannot be fetched."""
        cache = self._current(now)
        key = match(cache.keys, kid, alg)
        if key is None and kid is not None:
            fresher = self._after_unknown_kid(cache, now)
            if fresher is not None:
                key = match(fresher.keys, kid, alg)
        if key is not None:
            return key
        url = self.issuer.url
        if kid is None:
            raise Unauthenticated(
                f"the token names no key (kid) and {url} does not publish exactly one {alg} key; get a new token"
            )
        raise Unauthenticated(
            f"the token is signed with key {quoted(kid, 120)}, which {url} does not publish for {alg}; "
            "if the issuer just rotated its keys try again in a minute, otherwise get a new token"
        )

    def _current(self, now: datetime) -> KeySnapshot:
        """The cached keys, fetched first if there are none (raises Unavailable when that fails)."""
        cache = self._cache
        if cache.fetched_at is None:
            return self._refresh(cache, now)
        if not timedelta(0) <= now - cache.fetched_at < self._max_age:
            self._refresh_in_passing(cache, now)
            return self._cache
        return cache

    def _after_unknown_kid(self, seen: KeySnapshot, now: datetime) -> KeySnapshot | None:
        """Fetch again because a token named a key we do not know (rotation), at most once per
        ``min_refetch_interval``; None when rate-limited."""
        current = self._cache
        if current.generation != seen.generation:
            return current
        if self._too_soon_for_kid_fetch(now):
            return None
        fresher = self._refresh(seen, now, for_unknown_kid=True)
        return None if fresher.generation == seen.generation else fresher

    def _too_soon_for_kid_fetch(self, now: datetime) -> bool:
        last = self._last_kid_fetch
        return last is not None and timedelta(0) <= now - last < self._min_refetch

    # ---- fetching -----------------------------------------------------------------------------------------

    def _refresh(self, seen: KeySnapshot, now: datetime, *, for_unknown_kid: bool = False) -> KeySnapshot:
        with self._lock:
            if self._cache.generation != seen.generation:
                return self._cache  # another thread fetched while this one waited
            if for_unknown_kid:
                if self._too_soon_for_kid_fetch(now):
                    return seen
                self._last_kid_fetch = now
            failure = self._last_failure
            if failure is not None and timedelta(0) <= now - failure[0] < _RETRY_AFTER_FAILURE:
                raise Unavailable(failure[1])
            return self._fetch(now)

    def _refresh_in_passing(self, seen: KeySnapshot, now: datetime) -> None:
        """Renew old keys without holding up the others: one request's thread fetches (at most every few
        seconds while the issuer fails), the rest go on with what is cached."""
        last = self._last_attempt
        if last is not None and timedelta(0) <= now - last < _RETRY_AFTER_FAILURE:
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            if self._cache.generation == seen.generation:
                self._fetch(now)
        except Unavailable as error:
            log.warning("keeping the cached keys of %s: %s", self.issuer.url, error)
        finally:
            self._lock.release()

    def _fetch(self, now: datetime) -> KeySnapshot:
        """Discovery, then the key set; called with the lock held."""
        self._last_attempt = now
        try:
            discovery = self._get_json(self.issuer.discovery_document_url, "its discovery document")
            jwks_uri = self._check_discovery(discovery)
            # kube-apiserver's ServiceAccount issuer answers 406 to a key-set request that accepts only JSON
            key_set = self._get_json(jwks_uri, "its key set", accept=_KEY_SET_TYPES)
            keys = parse_key_set(key_set, self.issuer.url, jwks_uri)
        except Unavailable as error:
            self._last_failure = (now, str(error))
            raise
        self._last_failure = None
        self._cache = KeySnapshot(keys, now, self._cache.generation + 1)
        log.info("fetched %d signing keys of %s", len(keys), self.issuer.url)
        return self._cache

    def _get_json(self, url: str, what: str, *, accept: str = "application/json") -> Mapping[str, Any]:
        issuer = self.issuer.url
        try:
            with self._http.stream("GET", url, headers={"Accept": accept}) as response:
                if response.status_code != 200:
                    raise Unavailable(
                        f"the identity provider {issuer} answered the request for {what} ({url}) "
                        f"with HTTP {response.status_code}; check that it is up and that the issuer URL is right"
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > _MAX_DOCUMENT_BYTES:
                        raise Unavailable(f"the identity provider {issuer} sent more than 1 MiB as {what} ({url})")
        except httpx.HTTPError as error:
            raise Unavailable(
                f"cannot reach the identity provider {issuer} for {what} ({url}): {error}; try again later"
            ) from error
        try:
            document = json.loads(body)
        except ValueError as error:
            raise Unavailable(f"the identity provider {issuer} sent {what} that is not JSON ({url})") from error
        if not isinstance(document, dict):
            raise Unavailable(f"the identity provider {issuer} sent {what} that is not a JSON object ({url})")
        return document

    def _check_discovery(self, discovery: Mapping[str, Any]) -> str:
        url = self.issuer.url
        announced = discovery.get("issuer")
        if announced != url:
            raise Unavailable(
                f"the identity provider at {url} calls itself {quoted(announced, 120)}: the configured issuer URL "
                "must match its 'issuer' exactly (including any trailing slash); fix the configuration"
            )
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise Unavailable(f"the discovery document of {url} has no jwks_uri")
        problem = fetch_url_problem(jwks_uri)
        if problem is not None:
            raise Unavailable(f"the identity provider {url} publishes its keys at {problem}")
        return jwks_uri
