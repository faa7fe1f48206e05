"""The authorization code flow with PKCE for a web application: the broker's console signs people in.

Unlike ``kubejit login`` (``_code_flow``: one process waits on a loopback receiver), a web sign-in is split over
two HTTP requests of the browser. :func:`begin_web_sign_in` makes the fresh secrets (a PKCE verifier with its S256
challenge, ``state``, ``nonce``) and the URL of the provider's login page; the console keeps the secrets in an
encrypted, short-lived cookie. :func:`finish_web_sign_in` takes the redirect's parameters back, checks ``state``
(constant time) and an RFC 9207 ``iss``, exchanges the code with the verifier and checks the ID token (issuer,
audience, nonce, expiry; the broker's verifier then checks its signature). :func:`web_sign_out` is the way back
out: the form that ends the person's session at the provider too (OpenID Connect RP-Initiated Logout 1.0), so the
next sign-in asks for the password again. Called by ``kubejit.entrypoints.console``.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from authlib.common.security import generate_token

from kubejit.adapters.oidc_login._provider import Provider, SignIn, code_from, finish, idp_call
from kubejit.domain.errors import Unauthenticated, Unavailable

_HOST = re.compile(r"[A-Za-z0-9.:-]+")  # a DNS name, an IPv4 address or (unbracketed) an IPv6 address


@dataclass(frozen=True)
class WebSignIn:
    """One sign-in under way: where to send the browser, and the secrets its return must match."""

    url: str
    state: str
    nonce: str
    code_verifier: str


def begin_web_sign_in(provider: Provider, redirect_uri: str) -> WebSignIn:
    """Fresh secrets and the provider's login URL that redirects to ``redirect_uri`` with a code."""
    if provider.authorization_endpoint is None:
        raise Unavailable(f"{provider.issuer.name} names no authorization_endpoint in its discovery document")
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    with provider.client(redirect_uri=redirect_uri) as client:
        url, _ = client.create_authorization_url(
            provider.authorization_endpoint, state=state, nonce=nonce, code_verifier=verifier
        )
    return WebSignIn(url, state, nonce, verifier)


def finish_web_sign_in(
    provider: Provider, answer: Mapping[str, str], redirect_uri: str, *, state: str, nonce: str, code_verifier: str
) -> SignIn:
    """The checked sign-in from the redirect's parameters ``answer`` (code, state, iss or error), for the sign-in
    begun with ``state``, ``nonce`` and ``code_verifier``."""
    if not hmac.compare_digest(answer.get("state", "").encode(), state.encode()):
        raise Unauthenticated("the sign-in answer does not belong to this browser's sign-in (state): sign in again")
    code = code_from(provider, answer, again="sign in again")
    with idp_call(provider.issuer, "exchange the code for tokens"), provider.client(redirect_uri=redirect_uri) as c:
        tokens = c.fetch_token(
            provider.token_endpoint,
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
            redirect_uri=redirect_uri,
        )
    return finish(provider, dict(tokens), nonce=nonce)


@dataclass(frozen=True)
class WebSignOut:
    """The form that ends the person's session at the provider: POSTed by the browser to ``endpoint``.

    A form, not a redirect with the fields in the query: ``id_token_hint`` is the person's ID token, which
    kube-apiserver accepts as a credential until it expires, and a URL would keep it in the browser's history
    and the provider's access logs. The specification requires providers to accept POST at this endpoint.
    """

    endpoint: str
    fields: dict[str, str]

    @property
    def origin(self) -> str:
        """Where the form goes, for the page's Content-Security-Policy ``form-action``: scheme, host and port,
        nothing else (:func:`web_sign_out` offers no form for an endpoint whose host is not a plain name or
        address)."""
        parts = urlsplit(self.endpoint)
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def web_sign_out(provider: Provider, *, id_token: str, post_logout_redirect_uri: str) -> WebSignOut | None:
    """The provider's sign-out form for the session ``id_token`` came from, returning the browser to
    ``post_logout_redirect_uri`` (which must be registered at the provider); None when the provider's discovery
    document names no ``end_session_endpoint``."""
    if provider.end_session_endpoint is None or not _plain_host(provider.end_session_endpoint):
        return None
    fields = {
        "id_token_hint": id_token,
        "client_id": provider.issuer.client_id,
        "post_logout_redirect_uri": post_logout_redirect_uri,
    }
    return WebSignOut(provider.end_session_endpoint, fields)


def _plain_host(url: str) -> bool:
    """Whether ``url``'s host is a plain DNS name or IP address with at most a port (no user info, no characters
    that would change the meaning of the Content-Security-Policy it goes into)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is no number raises here
    except ValueError:
        return False
    return "@" not in parts.netloc and _HOST.fullmatch(parts.hostname or "") is not None
