"""What a client may ask the dev OIDC issuer: parameters, loopback redirect URIs and PKCE, checked.

The dev issuer's endpoints (:mod:`kubejit.devcluster.oidc_endpoints`) read every request through these
functions before the sign-in state (:mod:`kubejit.devcluster.oidc_flows`) sees it. The rules are the ones a
real identity provider applies to a public native client such as ``kubejit login``: parameters given once
(RFC 6749 section 3.1), redirect URIs only on the loopback interface (RFC 8252 section 7.3), PKCE with S256
only (RFC 7636), so the demo fails the way a real IdP fails when the CLI gets a flow wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlencode, urlsplit

CLIENT_ID = "kubejit"
SCOPES_SUPPORTED = ("openid", "profile", "email", "groups", "offline_access")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
MAX_PARAMETER_LENGTH = 2048
_CODE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_CODE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")

Params = Mapping[str, str]


class OAuthError(Exception):
    """An OAuth error answer (RFC 6749 section 5.2, RFC 8628 section 3.5): an error code and what to do."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def as_json(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class PageError(Exception):
    """A problem shown to the person as an HTML page and never redirected: the redirect target is not trusted
    (or no longer known), so sending the browser anywhere would help an attacker, not the user."""

    def __init__(self, title: str, message: str, *, status: int = 400) -> None:
        super().__init__(f"{title}: {message}")
        self.title = title
        self.message = message
        self.status = status


class RedirectedError(OAuthError):
    """An authorization request error for a trusted client and redirect URI: sent back to the client there."""

    def __init__(self, error: str, description: str, *, redirect_uri: str, state: str | None) -> None:
        super().__init__(error, description)
        self.redirect_uri = redirect_uri
        self.state = state


@dataclass(frozen=True)
class LoginRequest:
    """A checked authorization request (RFC 6749 section 4.1.1 with OIDC's nonce and PKCE's challenge)."""

    client_id: str
    redirect_uri: str
    state: str
    code_challenge: str
    scope: tuple[str, ...]
    nonce: str | None = None


def single_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The request's parameters as a dict; a parameter given twice or an overlong value is refused."""
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in values:
            raise OAuthError("invalid_request", f"the parameter {name!r} is given more than once; send it once")
        if len(value) > MAX_PARAMETER_LENGTH:
            raise OAuthError("invalid_request", f"the parameter {name!r} is longer than {MAX_PARAMETER_LENGTH}")
        values[name] = value
    return values


def check_client_id(client_id: str | None) -> str:
    """The client id if it is the dev issuer's one public client; ``invalid_client`` otherwise."""
    if not client_id:
        raise OAuthError(
            "invalid_client", f"client_id is required (the dev issuer's client is {CLIENT_ID!r})", status=401
        )
    if client_id != CLIENT_ID:
        raise OAuthError(
            "invalid_client", f"unknown client {client_id!r}; the dev issuer knows only {CLIENT_ID!r}", status=401
        )
    return client_id


def client_id_of(params: Params, authorization: str | None) -> str:
    """The calling client: ``client_id`` in the body (RFC 6749 2.3.1's "none" method of a public client), or
    HTTP Basic with an empty secret; both may be given if they agree. Anything else is ``invalid_client``."""
    client_id = params.get("client_id")
    if authorization:
        scheme, _, encoded = authorization.partition(" ")
        try:
            user, separator, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user, separator, secret = "", "", ""
        if scheme.lower() != "basic" or not separator:
            raise OAuthError("invalid_client", "the Authorization header is not HTTP Basic client_id:", status=401)
        if secret:
            raise OAuthError("invalid_client", f"{CLIENT_ID!r} is a public client: send no client secret", status=401)
        if client_id and client_id != unquote(user):
            raise OAuthError(
                "invalid_client", "client_id in the body and in the Authorization header differ", status=401
            )
        client_id = unquote(user)
    return check_client_id(client_id)


def loopback_redirect_problem(redirect_uri: str) -> str | None:
    """Why ``redirect_uri`` is not a loopback redirect a native app may use (RFC 8252 7.3), or None if it is.

    Only ``http://127.0.0.1:<port>/...`` and ``http://localhost:<port>/...`` (any port) pass: no user info
    (``http://127.0.0.1@evil.example/`` names another host), no backslash (browsers read it as a slash), no
    fragment (RFC 6749 3.1.2).
    """
    try:
        parts = urlsplit(redirect_uri)
        port = parts.port
    except ValueError:
        return "it is not a valid URL"
    if parts.scheme != "http":
        return "it must use http:// on the loopback interface (RFC 8252)"
    if "@" in parts.netloc or "\\" in redirect_uri:
        return "it must not contain '@' or '\\'"
    if parts.hostname not in LOOPBACK_HOSTS or port is None:
        return "it must be http://127.0.0.1:<port>/... or http://localhost:<port>/..."
    if parts.fragment or redirect_uri.endswith("#"):
        return "it must not have a fragment"
    return None


def login_request(params: Params) -> LoginRequest:
    """Check an authorization request: a PageError while the client or redirect URI is not trusted, then a
    RedirectedError (to be sent back to the client) for anything else that is wrong."""
    try:
        client_id = check_client_id(params.get("client_id"))
    except OAuthError as refused:
        raise PageError("Unknown application", refused.description) from None
    redirect_uri = params.get("redirect_uri", "")
    problem = loopback_redirect_problem(redirect_uri) if redirect_uri else "it is missing"
    if problem is not None:
        raise PageError("Redirect refused", f"the redirect_uri {redirect_uri!r} is refused: {problem}")
    state = params.get("state")

    def refuse(error: str, description: str) -> RedirectedError:
        return RedirectedError(error, description, redirect_uri=redirect_uri, state=state)

    if params.get("response_type") != "code":
        raise refuse("unsupported_response_type", "only response_type=code (the authorization code flow)")
    scope = tuple(params.get("scope", "").split())
    if "openid" not in scope:
        raise refuse("invalid_scope", "the scope must include 'openid'")
    if not state:
        raise refuse("invalid_request", "state is required: send a fresh random value and check it comes back")
    if params.get("code_challenge_method") != "S256":
        raise refuse("invalid_request", "PKCE is required: send code_challenge_method=S256 and a code_challenge")
    challenge = params.get("code_challenge", "")
    if not _CODE_CHALLENGE.fullmatch(challenge):
        raise refuse("invalid_request", "the code_challenge must be the base64url SHA-256 of the verifier")
    known_scope = tuple(name for name in scope if name in SCOPES_SUPPORTED)
    return LoginRequest(client_id, redirect_uri, state, challenge, known_scope, params.get("nonce") or None)


def verifier_matches(code_verifier: str, code_challenge: str) -> bool:
    """Whether ``code_verifier`` is well formed and its S256 challenge is ``code_challenge`` (RFC 7636 4.6)."""
    if not _CODE_VERIFIER.fullmatch(code_verifier):
        return False
    return hmac.compare_digest(s256_challenge(code_verifier), code_challenge)


def s256_challenge(code_verifier: str) -> str:
    """The S256 code challenge of a verifier (for tests and examples)."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def with_query(uri: str, params: Mapping[str, str | None]) -> str:
    """``uri`` with ``params`` (None values left out) added to its query string."""
    query = urlencode({name: value for name, value in params.items() if value is not None})
    separator = "&" if urlsplit(uri).query else ("" if uri.endswith("?") else "?")
    return f"{uri}{separator}{query}"
