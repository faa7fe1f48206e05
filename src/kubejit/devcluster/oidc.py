"""A local OpenID Connect issuer for the dev control plane, with the sign-in flows a CLI uses.

kube-apiserver trusts this issuer through its AuthenticationConfiguration, so an ID token issued here for
``alice`` makes kube-apiserver see the user ``alice`` with her groups: the same identity kubejit's broker
will see when it validates the token against the same JWKS. Over HTTPS on 127.0.0.1 it serves discovery and
the key set, and the flows of a real identity provider for its one public client ``kubejit``: the
authorization code flow with PKCE and a loopback redirect (a login page with one button per dev user), the
device authorization grant, rotating refresh tokens and revocation (routes in
:mod:`kubejit.devcluster.oidc_endpoints`), so ``kubejit login`` works against the demo as against Keycloak.
Tests also mint tokens in-process with :meth:`DevOIDCIssuer.mint`.

The two pages a person sees in a browser (the login page and the device page) are served a second time over plain
HTTP on another 127.0.0.1 port, and discovery names that copy (``authorization_endpoint``, the device flow's
``verification_uri``): a newcomer's browser does not know the dev CA and would stop at a certificate warning,
while the CLI and kube-apiserver trust the CA for everything else. Loopback only, as kubejit's rule for plain
HTTP says (the code travels to a loopback redirect in clear text anyway, RFC 8252).

It is a development tool: it authenticates nobody (whoever clicks a name is that person) and must never front
a real cluster. :class:`~kubejit.devcluster.cluster.DevCluster` starts it; tests start their own.
"""

from __future__ import annotations

import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

from kubejit.devcluster.oidc_endpoints import GRANT_TYPES, Answer, DevEndpoints, Request
from kubejit.devcluster.oidc_flows import (
    DEFAULT_DEVICE_INTERVAL_SECONDS,
    DEFAULT_ID_TOKEN_TTL_SECONDS,
    DEFAULT_REFRESH_TOKEN_TTL_SECONDS,
    DevFlows,
    Lifetimes,
    SignIn,
)
from kubejit.devcluster.oidc_requests import SCOPES_SUPPORTED, OAuthError
from kubejit.devcluster.pki import KeyPair
from kubejit.devcluster.users import DEV_USERS, DevUser

DEFAULT_AUDIENCE = "kubejit"
DEFAULT_TOKEN_TTL_SECONDS = 12 * 3600  # what mint() gives, so the dev users' kubeconfigs last a working day
MAX_BODY_BYTES = 64 * 1024
_CONNECTION_TIMEOUT_SECONDS = 30.0
USERNAME_CLAIM = "sub"
GROUPS_CLAIM = "groups"


__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_DEVICE_INTERVAL_SECONDS",
    "DEFAULT_ID_TOKEN_TTL_SECONDS",
    "DEFAULT_REFRESH_TOKEN_TTL_SECONDS",
    "DEFAULT_TOKEN_TTL_SECONDS",
    "GROUPS_CLAIM",
    "USERNAME_CLAIM",
    "DevOIDCIssuer",
    "Lifetimes",
]


class DevOIDCIssuer:
    """Discovery, JWKS and the sign-in flows over HTTPS; in-process minting of RS256 ID tokens for tests.

    ``id_token_ttl`` is the life of an ID token from the flows (``mint`` takes its own), ``refresh_token_ttl``
    the life of a session from sign-in (refresh tokens rotate within it), ``device_interval`` the polling
    interval the device flow asks for; all in seconds. ``clock`` gives the time (seconds since the epoch).
    :meth:`using_lifetimes` shortens them for a test.
    """

    def __init__(
        self,
        serving: KeyPair,
        workdir: Path,
        *,
        audience: str = DEFAULT_AUDIENCE,
        users: Sequence[DevUser] = DEV_USERS,
        id_token_ttl: int = DEFAULT_ID_TOKEN_TTL_SECONDS,
        refresh_token_ttl: int = DEFAULT_REFRESH_TOKEN_TTL_SECONDS,
        device_interval: int = DEFAULT_DEVICE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.audience = audience
        self.users = tuple(users)
        self._key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
        self._kid = self._key.thumbprint()
        lifetimes = Lifetimes(
            id_token_ttl=id_token_ttl, refresh_token_ttl=refresh_token_ttl, device_interval=device_interval
        )
        self._flows = DevFlows(self.users, lifetimes)
        cert_path, key_path = serving.write(workdir, "oidc-serving")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
        self._server = _IssuerServer(("127.0.0.1", 0), _handler_for(self))
        # The TLS handshake happens in the request's thread: a browser's idle preconnect cannot stall accept().
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._pages_server = _IssuerServer(("127.0.0.1", 0), _handler_for(self, pages_only=True))
        self.pages_url = f"http://127.0.0.1:{self._pages_server.server_address[1]}"
        self._endpoints = DevEndpoints(
            issuer_url=self.url,
            pages_url=self.pages_url,
            flows=self._flows,
            users=self.users,
            sign_id_token=self._sign_in_token,
            clock=clock,
        )
        self._threads = [
            threading.Thread(target=server.serve_forever, name=name, daemon=True)
            for server, name in ((self._server, "dev-oidc"), (self._pages_server, "dev-oidc-pages"))
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        for thread, server in zip(self._threads, (self._server, self._pages_server), strict=True):
            if thread.is_alive():
                server.shutdown()
                thread.join()
            server.server_close()

    @property
    def lifetimes(self) -> Lifetimes:
        return self._flows.lifetimes

    @contextmanager
    def using_lifetimes(self, **changes: int) -> Iterator[Lifetimes]:
        """Other lifetimes (seconds) for what is issued inside the ``with``, e.g. ``id_token_ttl=5``,
        ``refresh_token_ttl``, ``code_ttl``, ``device_code_ttl``, ``device_interval``, ``page_ttl``."""
        before = self._flows.lifetimes
        self._flows.lifetimes = self._flows.changed_lifetimes(**changes)
        try:
            yield self._flows.lifetimes
        finally:
            self._flows.lifetimes = before

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/keys",
            "authorization_endpoint": f"{self.pages_url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "device_authorization_endpoint": f"{self.url}/device/code",
            "revocation_endpoint": f"{self.url}/revoke",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(GRANT_TYPES),
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": list(SCOPES_SUPPORTED),
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "authorization_response_iss_parameter_supported": True,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": [USERNAME_CLAIM, GROUPS_CLAIM, "iss", "aud", "exp", "iat", "nbf", "jti", "nonce"],
        }

    def jwks(self) -> dict[str, Any]:
        public = self._key.as_dict(private=False)
        public["kid"] = self._kid
        return {"keys": [public]}

    def routes(self, *, pages_only: bool = False) -> dict[tuple[str, str], Callable[[Request], Answer]]:
        """Every (method, path) the issuer answers; with ``pages_only``, only the pages a person's browser opens."""
        if pages_only:
            return self._endpoints.page_routes()
        return {
            ("GET", "/.well-known/openid-configuration"): lambda _request: Answer.json(200, self.discovery()),
            ("GET", "/keys"): lambda _request: Answer.json(200, self.jwks()),
            **self._endpoints.routes(),
        }

    def _sign_in_token(self, sign_in: SignIn, now: float, ttl: int) -> str:
        nonce = {"nonce": sign_in.nonce} if sign_in.nonce is not None else None
        return self.mint(sign_in.user, ttl_seconds=ttl, now=now, extra_claims=nonce)

    def mint(
        self,
        user: DevUser,
        *,
        ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS,
        audience: str | None = None,
        now: float | None = None,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """An ID token for ``user``; ``audience``, ``now`` and ``extra_claims`` let tests make bad ones."""
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": audience or self.audience,
            USERNAME_CLAIM: user.name,
            GROUPS_CLAIM: list(user.groups),
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        claims.update(extra_claims or {})
        return jwt.encode({"alg": "RS256", "kid": self._kid, "typ": "JWT"}, claims, self._key)


class _IssuerServer(ThreadingHTTPServer):
    """One thread per connection; TLS is negotiated in that thread, so its failures end only that thread."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that give up on TLS (an untrusted CA, a browser's idle preconnect timing out)."""
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _IssuerHandler(BaseHTTPRequestHandler):
    """One HTTP request to the issuer: find its route, read its parameters, send the route's answer."""

    issuer: ClassVar[DevOIDCIssuer]
    pages_only: ClassVar[bool] = False
    server_version = "kubejit-dev-oidc"
    timeout = _CONNECTION_TIMEOUT_SECONDS

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        target = urlsplit(self.path)
        route = self.issuer.routes(pages_only=self.pages_only).get((method, target.path))
        if route is None:
            self._send(Answer.json(404, {"error": "not_found", "error_description": f"no {method} {target.path}"}))
            return
        try:
            query = target.query if method == "GET" else self._form()
            params = tuple(parse_qsl(query, keep_blank_values=True))
        except OAuthError as refused:
            self._send(Answer.oauth_error(refused))
            return
        self._send(route(Request(params, self.headers.get("Authorization"))))

    def _form(self) -> str:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise OAuthError("invalid_request", "the Content-Length header is not a number") from None
        if not 0 <= length <= MAX_BODY_BYTES:
            raise OAuthError("invalid_request", f"the body must be at most {MAX_BODY_BYTES} bytes", status=413)
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if length and kind != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "send the parameters as application/x-www-form-urlencoded")
        try:
            return self.rfile.read(length).decode("utf-8")
        except UnicodeDecodeError:
            raise OAuthError("invalid_request", "the body is not UTF-8") from None

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Cache-Control", "no-store")
        if answer.location is not None:
            self.send_header("Location", answer.location)
        if answer.content_type.startswith("text/html"):
            # No script, no framing (one click signs in: a page must not be clicked through a frame).
            self.send_header(
                "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
            )
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: kube-apiserver polls the key set and the log would drown the useful lines."""


def _handler_for(issuer: DevOIDCIssuer, *, pages_only: bool = False) -> type[BaseHTTPRequestHandler]:
    return type("DevOIDCHandler", (_IssuerHandler,), {"issuer": issuer, "pages_only": pages_only})
