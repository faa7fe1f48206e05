"""The console's cookies: the signed-in session and the sign-in under way, encrypted and authenticated.

Both are AES-256-GCM over a small JSON document with an expiry, under a key derived (HKDF-SHA256, its own
``info``) from the broker's request seal key, so every replica of one installation reads the others' cookies and
no cookie is ever valid as anything else (each kind has its own associated data). A cookie that was changed, is
from another installation or has expired reads as None: the person is simply not signed in.

The session holds the ID token itself (re-verified by the broker's OIDC verifier on every request, so the
identity is exactly the one the API would see for that token, and the session ends when the token does) and the
CSRF token that every form of that session must carry (:mod:`._web` checks it). Called by :mod:`._web` and
:mod:`._sign_in`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12
_MAX_COOKIE_CHARS = 4000  # browsers keep about 4 KiB per cookie
SESSION = "session"
SIGN_IN = "sign-in"


def console_key(seal_key: bytes) -> bytes:
    """The console's cookie key, derived from the broker's request seal key (never used as-is elsewhere)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"kubejit console cookies v1").derive(seal_key)


@dataclass(frozen=True)
class Session:
    """A signed-in browser: the ID token, the CSRF token of its forms, and when both end (epoch seconds)."""

    id_token: str
    csrf: str
    expires_at: int

    @classmethod
    def new(cls, id_token: str, expires_at: int) -> Session:
        return cls(id_token, secrets.token_urlsafe(32), expires_at)


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in under way: the secrets the provider's redirect must match, and the page to go back to."""

    state: str
    nonce: str
    code_verifier: str
    back_to: str
    expires_at: int


class CookieBox:
    """Seals and opens the console's cookies with one key; ``now`` (epoch seconds) is always a parameter."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, kind: str, document: dict[str, Any]) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        plain = json.dumps(document, separators=(",", ":")).encode()
        sealed = base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, plain, kind.encode())).decode()
        if len(sealed) > _MAX_COOKIE_CHARS:
            raise ValueError(f"the console's {kind} cookie would be {len(sealed)} characters: too long for browsers")
        return sealed.rstrip("=")

    def open(self, kind: str, sealed: str | None, now: float) -> dict[str, Any] | None:
        """The document in ``sealed``, or None when it is missing, forged, of another kind or expired."""
        if not sealed or len(sealed) > _MAX_COOKIE_CHARS:
            return None
        try:
            raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], kind.encode())
            document = json.loads(plain)
        except (binascii.Error, ValueError, InvalidTag):
            return None
        if not isinstance(document, dict) or not isinstance(document.get("exp"), int) or document["exp"] <= now:
            return None
        return document

    def seal_session(self, session: Session) -> str:
        return self.seal(SESSION, {"t": session.id_token, "c": session.csrf, "exp": session.expires_at})

    def open_session(self, sealed: str | None, now: float) -> Session | None:
        document = self.open(SESSION, sealed, now)
        if document is None or not isinstance(document.get("t"), str) or not isinstance(document.get("c"), str):
            return None
        return Session(document["t"], document["c"], document["exp"])

    def seal_sign_in(self, pending: PendingSignIn) -> str:
        fields = {"s": pending.state, "n": pending.nonce, "v": pending.code_verifier, "b": pending.back_to}
        return self.seal(SIGN_IN, {**fields, "exp": pending.expires_at})

    def open_sign_in(self, sealed: str | None, now: float) -> PendingSignIn | None:
        document = self.open(SIGN_IN, sealed, now)
        if document is None or not all(isinstance(document.get(k), str) for k in ("s", "n", "v", "b")):
            return None
        return PendingSignIn(document["s"], document["n"], document["v"], document["b"], document["exp"])
