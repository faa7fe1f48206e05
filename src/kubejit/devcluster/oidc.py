"""A local OpenID Connect issuer for the dev control plane.

kube-apiserver trusts this issuer through its AuthenticationConfiguration, so an ID token minted here for
``alice`` makes kube-apiserver see the user ``alice`` with her groups: the same identity kubejit's broker
will see when it validates the token against the same JWKS. It serves only what a relying party needs
(discovery and the key set, over HTTPS on 127.0.0.1); tokens are minted in-process by :meth:`mint`.
It is a development tool: it authenticates nobody and must never front a real cluster.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from kubejit.devcluster.pki import KeyPair
from kubejit.devcluster.users import DevUser

DEFAULT_AUDIENCE = "kubejit"
DEFAULT_TOKEN_TTL_SECONDS = 12 * 3600
USERNAME_CLAIM = "sub"
GROUPS_CLAIM = "groups"


class DevOIDCIssuer:
    """Discovery + JWKS over HTTPS, and in-process minting of RS256 ID tokens."""

    def __init__(self, serving: KeyPair, workdir: Path, *, audience: str = DEFAULT_AUDIENCE) -> None:
        self.audience = audience
        self._key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
        self._kid = self._key.thumbprint()
        cert_path, key_path = serving.write(workdir, "oidc-serving")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="dev-oidc", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/keys",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": [USERNAME_CLAIM, GROUPS_CLAIM, "iss", "aud", "exp", "iat", "nbf"],
        }

    def jwks(self) -> dict[str, Any]:
        public = self._key.as_dict(private=False)
        public["kid"] = self._kid
        return {"keys": [public]}

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


def _handler_for(issuer: DevOIDCIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            routes = {"/.well-known/openid-configuration": issuer.discovery, "/keys": issuer.jwks}
            route = routes.get(self.path)
            if route is None:
                self._reply(404, {"error": f"no such path {self.path!r}"})
            else:
                self._reply(200, route())

        def _reply(self, status: int, body: Mapping[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: kube-apiserver polls the key set and the log would drown the useful lines."""

    return Handler
