"""Signs grant tokens for the broker and verifies them for the gateway (ES256, JOSE via joserfc).

The broker holds the private key (a PEM file, generated 0600 on first start); the gateway holds only the public
key set, fetched from the broker's ``/.well-known/kubejit-gateway-keys`` or read from a file, so a compromised
gateway cannot mint tokens.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from kubejit.domain.errors import InvalidInput, Unauthenticated
from kubejit.domain.grant_token import GrantClaims, read_claims

ALGORITHM = "ES256"
MAX_TOKEN_BYTES = 16 * 1024


def load_or_create_key(path: Path) -> ECKey:
    """The broker's signing key: read it, or create it (mode 0600) on first start."""
    if path.exists():
        try:
            key = ECKey.import_key(path.read_bytes())
        except (JoseError, ValueError) as error:
            raise InvalidInput(f"{path} is not a PEM EC private key: {error}") from None
        if not key.is_private:
            raise InvalidInput(f"{path} holds a public key; the broker needs the private key")
        return key
    key = ECKey.generate_key("P-256")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise InvalidInput(
            f"the gateway signing key {path} does not exist and cannot be created ({error.strerror or error}): "
            "mount it (gateway.signingKeyFile) or make its directory writable"
        ) from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.as_pem(private=True))
    return key


class GrantTokenSigner:
    def __init__(self, key: ECKey) -> None:
        self._key = key
        self.kid = key.thumbprint()

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}, claims, self._key, algorithms=[ALGORITHM])

    def public_jwks(self) -> dict[str, Any]:
        public = self._key.as_dict(private=False)
        public.update({"kid": self.kid, "alg": ALGORITHM, "use": "sig"})
        return {"keys": [public]}


class GrantTokenVerifier:
    """Verifies grant tokens against the broker's public keys (only ES256; nothing else is tried)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        try:
            self._keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]  # validated by joserfc
        except (JoseError, ValueError, TypeError) as error:
            raise InvalidInput(f"the broker's key set cannot be read: {error}") from None
        if any(key.is_private for key in self._keys.keys):
            raise InvalidInput("the gateway must be given only public keys")

    def verify(self, token: str, now: datetime) -> GrantClaims:
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthenticated("the token is too large")
        try:
            decoded = jwt.decode(token, self._keys, algorithms=[ALGORITHM])
        except (JoseError, ValueError) as error:
            raise Unauthenticated(f"the grant token is not valid here ({type(error).__name__})") from None
        return read_claims(dict(decoded.claims), now)
