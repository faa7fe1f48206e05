"""An OpenID Connect provider as ``kubejit login`` sees it: its settings, its discovery document, HTTP to it.

The settings come from the broker (:class:`LoginIssuer`, one entry of ``GET /api/v1/login/options``); the
endpoints from the provider's own discovery document, whose ``issuer`` must be exactly the configured one (else a
"wrong issuer" error: a token from another issuer would be refused by the broker anyway, and the mismatch is a
misconfiguration to report, not to work around). Every endpoint must be https:// (http only on loopback), so the
codes and tokens never travel in clear text. Transport failures become ``Unavailable`` (exit 3), refusals by the
provider kubejit's errors naming the OAuth error code.
"""

from __future__ import annotations

import base64
import binascii
import json
import ssl
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
from authlib.integrations.httpx_client import OAuth2Client, OAuthError

from kubejit.domain.errors import InvalidInput, Refused, Unauthenticated, Unavailable
from kubejit.login_sessions import check_id_token
from kubejit.transport import TrustError, trust_context, url_problem

HTTP_TIMEOUT = httpx2.Timeout(30.0, connect=5.0)
MAX_DISCOVERY_BYTES = 256 * 1024


@dataclass(frozen=True)
class LoginIssuer:
    """One issuer the broker offers for signing in (its name, URL, OAuth client and the CA to trust it with)."""

    name: str
    issuer: str
    client_id: str
    scopes: tuple[str, ...] = ("openid", "profile", "email", "groups", "offline_access")
    client_secret: str | None = None
    ca_data: str | None = None  # base64 of a PEM bundle, as the broker serves it; None: the system's roots

    def tls(self) -> ssl.SSLContext:
        """The TLS context to reach this issuer: its CA bundle when the broker gave one, else the system's."""
        try:
            pem = base64.b64decode(self.ca_data, validate=True) if self.ca_data else None
            return trust_context(cadata=pem)
        except (binascii.Error, TrustError) as error:
            raise InvalidInput(f"the broker's CA for the issuer {self.name!r} cannot be used: {error}") from None


@dataclass(frozen=True)
class Provider:
    """A discovered provider: the issuer's settings and the endpoints its discovery document names."""

    issuer: LoginIssuer
    token_endpoint: str
    authorization_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    end_session_endpoint: str | None = None  # OpenID Connect RP-Initiated Logout 1.0
    document: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def client(self, **settings: Any) -> OAuth2Client:
        """An Authlib OAuth 2 client for this provider (public client unless the broker gave a secret)."""
        secret = self.issuer.client_secret
        return OAuth2Client(
            client_id=self.issuer.client_id,
            client_secret=secret,
            token_endpoint_auth_method="client_secret_post" if secret else "none",
            scope=" ".join(self.issuer.scopes),
            code_challenge_method="S256",
            verify=self.issuer.tls(),
            timeout=HTTP_TIMEOUT,
            trust_env=False,
            **settings,
        )

    def client_form(self) -> dict[str, str]:
        """The client's identification in a form body (RFC 6749 2.3.1 client_secret_post, or a public client)."""
        form = {"client_id": self.issuer.client_id}
        if self.issuer.client_secret:
            form["client_secret"] = self.issuer.client_secret
        return form


@dataclass(frozen=True)
class SignIn:
    """What signing in produced: the checked ID token, its expiry and claims, and the refresh token if any."""

    id_token: str
    expires_at: int
    claims: dict[str, Any]
    refresh_token: str | None = None


def discover(issuer: LoginIssuer) -> Provider:
    """Read ``{issuer}/.well-known/openid-configuration``; its ``issuer`` must equal the configured issuer."""
    url = issuer.issuer.rstrip("/") + "/.well-known/openid-configuration"
    checked_url(url, "the issuer")
    with idp_call(issuer, "read its discovery document"), plain_client(issuer) as client:
        response = client.get(url, headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise Unavailable(f"the identity provider's discovery document at {url} answered HTTP {response.status_code}")
    document = _json_object(response.content[:MAX_DISCOVERY_BYTES], url)
    if document.get("issuer") != issuer.issuer:
        raise Unauthenticated(
            f"wrong issuer: the discovery document at {url} names the issuer {str(document.get('issuer'))[:200]!r}, "
            f"but the broker trusts {issuer.issuer!r}: fix the broker's oidc issuer (or the IdP's public URL)"
        )
    endpoints = {
        name: checked_url(document[name], name) if isinstance(document.get(name), str) else None
        for name in ("token_endpoint", "authorization_endpoint", "device_authorization_endpoint", "revocation_endpoint")
    }
    # Signing out at the provider is a convenience of the console: a sign-out URL kubejit will not use must not
    # stop anyone from signing in.
    end_session = document.get("end_session_endpoint")
    endpoints["end_session_endpoint"] = (
        end_session if isinstance(end_session, str) and url_problem(end_session) is None else None
    )
    token_endpoint = endpoints.pop("token_endpoint")
    if token_endpoint is None:
        raise Unavailable(f"the discovery document at {url} names no token_endpoint")
    return Provider(issuer, token_endpoint, document=document, **endpoints)


def checked_url(url: str, what: str) -> str:
    """``url`` if codes and tokens may travel to it (https://, or http:// on this machine)."""
    if url_problem(url) is not None:
        raise Unauthenticated(f"the identity provider's {what} {url[:200]!r} is not an https:// URL: refusing it")
    return url


def finish(provider: Provider, answer: dict[str, Any], *, nonce: str | None, now: float | None = None) -> SignIn:
    """The sign-in in a token response, after checking its ID token (iss, aud, exp, nonce)."""
    id_token = answer.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise Unauthenticated(
            f"{provider.issuer.name} answered without an ID token: does the client ask for the openid scope?"
        )
    claims = check_id_token(
        id_token,
        issuer=provider.issuer.issuer,
        client_id=provider.issuer.client_id,
        now=time.time() if now is None else now,
        nonce=nonce,
    )
    refresh = answer.get("refresh_token")
    return SignIn(id_token, int(claims["exp"]), claims, refresh if isinstance(refresh, str) and refresh else None)


def code_from(provider: Provider, answer: Mapping[str, str], *, again: str) -> str:
    """The authorization code in a redirect's parameters, after checking its ``iss`` (RFC 9207: the answer names
    its issuer) and that it is no error answer; ``again`` says how to start over."""
    if "iss" in answer and answer["iss"] != provider.issuer.issuer:
        raise Unauthenticated(
            f"wrong issuer: the sign-in answer comes from {answer['iss'][:200]!r}, not {provider.issuer.issuer!r}"
        )
    if "error" in answer:
        raise refusal(provider.issuer, answer["error"], answer.get("error_description"))
    code = answer.get("code")
    if not code:
        raise Unauthenticated(f"{provider.issuer.name} redirected back without a code: {again}")
    return code


def refusal(issuer: LoginIssuer, error: str, description: str | None) -> Exception:
    """kubejit's error for an OAuth error answer (RFC 6749 5.2, RFC 8628 3.5)."""
    detail = f" ({description[:200]})" if description else ""
    if error == "access_denied":
        return Refused(f"the sign-in at {issuer.name} was denied (access_denied{detail}): nobody is signed in")
    if error == "expired_token":
        return Unauthenticated(f"the device code expired before it was approved{detail}: run kubejit login again")
    return Unauthenticated(f"{issuer.name} refused the sign-in: {error}{detail}")


@contextmanager
def idp_call(issuer: LoginIssuer, doing: str) -> Iterator[None]:
    """Translate what can go wrong talking to the provider into kubejit's errors."""
    try:
        yield
    except OAuthError as error:
        raise refusal(issuer, str(error.error), error.description) from None
    except httpx2.HTTPStatusError as error:
        status = error.response.status_code
        raise Unavailable(f"the identity provider {issuer.name} answered HTTP {status} when asked to {doing}") from None
    except httpx2.TransportError as error:
        raise Unavailable(f"cannot reach the identity provider at {issuer.issuer} to {doing}: {error}") from None
    except ValueError:  # Authlib's word for a token endpoint that answered something else than a JSON object
        raise Unavailable(
            f"the identity provider {issuer.name} did not answer with JSON when asked to {doing} "
            "(a proxy's page in between?)"
        ) from None


def revoke(endpoint: str, token: str, *, client_id: str, client_secret: str | None, ca_data: str | None) -> str | None:
    """Revoke a refresh token (RFC 7009), best effort: None when done, else why not (for a warning)."""
    issuer = LoginIssuer("the identity provider", endpoint, client_id, (), client_secret, ca_data)
    form = {"token": token, "token_type_hint": "refresh_token", **Provider(issuer, endpoint).client_form()}
    try:
        checked_url(endpoint, "revocation endpoint")
        with idp_call(issuer, "revoke the refresh token"), plain_client(issuer) as client:
            response = client.post(endpoint, data=form)
    except (Unavailable, Unauthenticated, InvalidInput) as error:
        return str(error)
    if response.status_code != 200:
        return f"the revocation endpoint answered HTTP {response.status_code}"
    return None


def plain_client(issuer: LoginIssuer) -> httpx2.Client:
    """An HTTP client for the provider's endpoints outside Authlib's token handling (discovery, device, revoke)."""
    return httpx2.Client(verify=issuer.tls(), timeout=HTTP_TIMEOUT, trust_env=False, follow_redirects=False)


def _json_object(content: bytes, where: str) -> dict[str, Any]:
    try:
        document = json.loads(content)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise Unavailable(f"{where} did not answer with a JSON object")
    return document
