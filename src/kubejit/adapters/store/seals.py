"""Seals on request rows: an HMAC-SHA256, by a key the database does not hold, over everything a row says.

Whoever can write the broker's database could otherwise insert an approved request or widen an active one, and
the keeper and the gateways would honour it. The store seals every row it writes (:mod:`kubejit.adapters.store.sql`)
and reports, with every row it reads, whether the seal is there and right (:class:`kubejit.ports.Seal`); the
keeper and the gateway feed honour only rows whose seal verifies. The seal covers the whole request document and
the columns that queries filter on (state, requester, profile, created and end times), so neither can be changed
alone. The key lives in a file (0600, created on first start: :func:`load_or_create_seal_key`), never in the
database; :mod:`kubejit.bootstrap` reads it.

A seal does not stop a *replay*: putting back an older row the broker itself wrote (with its seal). The audit
replay (:mod:`kubejit.services.audit_replay`) reports such a row, because the chain says what happened after it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from datetime import datetime
from pathlib import Path

from kubejit.domain.audit import canonical_json, timestamp
from kubejit.domain.errors import InvalidInput
from kubejit.ports import Seal

KEY_BYTES = 32
_DOMAIN = "kubejit request row v1"  # what is sealed, and in which form: a seal never verifies in another context


def load_or_create_seal_key(path: Path) -> bytes:
    """The broker's request-sealing key: read it, or create it (mode 0600, in a 0700 directory) on first start.

    The file holds the key as hex on one line. A key file that others may read is refused: whoever reads it can
    forge grants."""
    if path.exists():
        return _read_key(path)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise InvalidInput(f"cannot create the request seal key {path}: {error.strerror or error}") from error
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key.hex() + "\n")
    return key


def _read_key(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInput(
            f"the request seal key {path} can be read by others (mode {stat.S_IMODE(mode):o}): chmod 600 it"
        )
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as error:
        raise InvalidInput(f"{path} is not a kubejit request seal key (hex on one line): {error}") from None
    if len(key) < KEY_BYTES:
        raise InvalidInput(
            f"the request seal key {path} is shorter than {KEY_BYTES} bytes: remove it to make a new one"
        )
    return key


def _time(at: datetime | None) -> str | None:
    return None if at is None else timestamp(at)


class RequestSealer:
    """Computes and checks the seal of one row's stored form."""

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise InvalidInput(f"a request seal key has at least {KEY_BYTES} bytes")
        self._key = key

    def seal(
        self,
        *,
        request_id: str,
        state: str,
        requester: str,
        profile: str,
        created_at: datetime,
        ends_at: datetime | None,
        document: str,
    ) -> str:
        body = {
            "sealed": _DOMAIN,
            "id": request_id,
            "state": state,
            "requester": requester,
            "profile": profile,
            "created_at": timestamp(created_at),
            "ends_at": _time(ends_at),
            "document": document,
        }
        return hmac.new(self._key, canonical_json(body), hashlib.sha256).hexdigest()

    def check(self, seal: str | None, **row: object) -> Seal:
        """Whether ``seal`` is the seal of the row (the keyword arguments of :meth:`seal`)."""
        if not seal:
            return Seal.MISSING
        expected = self.seal(**row)  # type: ignore[arg-type]
        return Seal.VALID if hmac.compare_digest(expected, seal) else Seal.BROKEN
