"""Reads an issuer's JSON Web Key Set into the public keys kubejit would verify with, and picks one for a token.

Why it exists: an issuer may publish keys for encryption, private members, short RSA keys or curves nobody
asked for; this module keeps only signing keys of the types the allow-list names (``_issuer.KEY_FOR_ALGORITHM``)
and never a private member, so a key can only be used with an algorithm of its own type (no algorithm
confusion). The key cache (``_key_cache``) parses each fetched set here and asks :func:`match` for a token's key.
"""

from __future__ import annotations

import binascii
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey
from joserfc.util import base64_to_int

from kubejit.adapters.idp._issuer import KEY_FOR_ALGORITHM
from kubejit.domain.errors import Unavailable
from kubejit.domain.identity_names import quoted

log = logging.getLogger(__name__)

_MIN_RSA_BITS = 2048
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


@dataclass(frozen=True)
class PublicKey:
    """One published signing key, with what decides which algorithms it may verify."""

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: Key

    def fits(self, alg: str) -> bool:
        kty, crv = KEY_FOR_ALGORITHM[alg]
        return self.kty == kty and (crv is None or self.crv == crv) and self.alg in (None, alg)


def parse_key_set(document: Mapping[str, Any], issuer_url: str, jwks_uri: str) -> tuple[PublicKey, ...]:
    """The usable signing keys of a key set; raises Unavailable when there are none."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise Unavailable(f"the key set of {issuer_url} ({jwks_uri}) has no 'keys' list")
    keys = tuple(key for key in map(_public_key, entries) if key is not None)
    if not keys:
        raise Unavailable(f"the identity provider {issuer_url} publishes no usable signing key at {jwks_uri}")
    return keys


def match(keys: Sequence[PublicKey], kid: str | None, alg: str) -> PublicKey | None:
    """The key named ``kid`` that fits ``alg``; without a kid, the only key that fits (None if several do)."""
    if kid is None:
        fitting = [key for key in keys if key.fits(alg)]
        return fitting[0] if len(fitting) == 1 else None
    return next((key for key in keys if key.kid == kid and key.fits(alg)), None)


def _public_key(entry: object) -> PublicKey | None:
    """A signing key from one JWK, or None when it is not one we would verify with."""
    if not isinstance(entry, dict):
        return None
    kty, kid, use, alg, crv = (entry.get(name) for name in ("kty", "kid", "use", "alg", "crv"))
    ops = entry.get("key_ops")
    if use not in (None, "sig") or (ops is not None and (not isinstance(ops, list) or "verify" not in ops)):
        return None
    if not (kid is None or isinstance(kid, str)) or not (alg is None or isinstance(alg, str)):
        return None
    public = {name: value for name, value in entry.items() if name not in _PRIVATE_MEMBERS}
    try:
        if kty == "RSA":
            modulus = public.get("n")
            if not isinstance(modulus, str) or base64_to_int(modulus).bit_length() < _MIN_RSA_BITS:
                log.warning("ignoring RSA key %s: shorter than %d bits", quoted(kid, 120), _MIN_RSA_BITS)
                return None
            key: Key = RSAKey.import_key(public)
            crv = None
        elif kty == "EC" and crv in ("P-256", "P-384", "P-521"):
            key = ECKey.import_key(public)
        elif kty == "OKP" and crv in ("Ed25519", "Ed448"):
            key = OKPKey.import_key(public)
        else:
            return None
    except (JoseError, ValueError, TypeError, KeyError, binascii.Error) as error:
        log.warning("ignoring a key the issuer publishes (kid %s): %s", quoted(kid, 120), error)
        return None
    return PublicKey(kid=kid, kty=kty, crv=crv if isinstance(crv, str) else None, alg=alg, key=key)
