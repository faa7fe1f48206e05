"""The audit chain's head, kept outside the database and signed, so that cutting off the tail is noticed.

A hash chain shows edits, deletions and reordering, but a chain whose newest events were removed is still a
valid chain. The broker therefore records the head (sequence number, hash, time) somewhere the database's
owner cannot silently rewrite: a ConfigMap (:class:`ConfigMapCheckpoints`) or a file
(:class:`FileCheckpoints`), signed with an Ed25519 key. ``kubejit audit verify`` compares the chain with the
checkpoint. Both classes implement :class:`kubejit.ports.CheckpointStore`; :func:`load_signing_key` and
:func:`generate_signing_key` manage the key file. Wired in :mod:`kubejit.bootstrap`.

The signature covers a canonical text of the three values (:func:`canonical_text`), so editing any of them,
or the signature, makes :meth:`load` raise :class:`kubejit.domain.errors.Refused`.

Beside the checkpoint, each store keeps a **high-water mark**: a second signed record (its own header, so one
record's signature cannot pass for the other's) of the highest checkpoint ever saved there. ``save`` refuses
anything below it, so an older validly signed checkpoint put back over the newer one is told apart (the
service reports it as a rollback) and never "renewed". The ConfigMap store writes both records in one
conditional update (its resourceVersion): two writers never interleave. What a store cannot see is both
records replaced together by an old copy, or deleted together: the service's own memory of the highest mark
and its refusal to sign a first checkpoint over a non-empty trail without an operator's ``--init`` cover
those (see docs/security-model.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType

from kubejit.adapters.kube.bindings import kube_errors
from kubejit.adapters.kube.install import MANAGED_BY, MANAGED_BY_LABEL
from kubejit.domain.audit import Checkpoint, timestamp
from kubejit.domain.errors import InvalidInput, NotFound, Refused

CANONICAL_HEADER = "kubejit.io/audit-checkpoint/v1"
HIGH_WATER_HEADER = "kubejit.io/audit-high-water/v1"
HIGH_WATER_PREFIX = "highWater"  # the high-water record's keys: highWaterSeq, highWaterHash, ...
_HASH = re.compile(r"[0-9a-f]{64}")
_SEQ = re.compile(r"0|[1-9][0-9]{0,18}")
FIELDS = ("seq", "hash", "at", "signature", "publicKeySha256")


def canonical_text(checkpoint: Checkpoint, header: str = CANONICAL_HEADER) -> bytes:
    """What the signature covers: a fixed header, then seq, hash and time (UTC, microseconds), one per line."""
    if isinstance(checkpoint.seq, bool) or not isinstance(checkpoint.seq, int) or checkpoint.seq < 0:
        raise InvalidInput(f"checkpoint seq must be a non-negative integer, not {checkpoint.seq!r}")
    if not _HASH.fullmatch(checkpoint.hash):
        raise InvalidInput("checkpoint hash must be 64 lower-case hex digits (SHA-256)")
    if checkpoint.at.tzinfo is None:
        raise InvalidInput("checkpoint time must be timezone-aware")
    text = f"{header}\nseq={checkpoint.seq}\nhash={checkpoint.hash}\nat={timestamp(checkpoint.at)}\n"
    return text.encode()


def public_key_fingerprint(key: Ed25519PrivateKey) -> str:
    """SHA-256 of the raw public key, hex: names the key that signed, reveals nothing secret."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _key_name(prefix: str, name: str) -> str:
    return prefix + name[0].upper() + name[1:] if prefix else name


def _encode(
    checkpoint: Checkpoint, key: Ed25519PrivateKey, header: str = CANONICAL_HEADER, prefix: str = ""
) -> dict[str, str]:
    text = canonical_text(checkpoint, header)
    values = {
        "seq": str(checkpoint.seq),
        "hash": checkpoint.hash,
        "at": timestamp(checkpoint.at),
        "signature": base64.b64encode(key.sign(text)).decode(),
        "publicKeySha256": public_key_fingerprint(key),
    }
    return {_key_name(prefix, name): value for name, value in values.items()}


def _records(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> dict[str, str]:
    """Both records for a new checkpoint: it, and the high-water mark raised to it."""
    return {**_encode(checkpoint, key), **_encode(checkpoint, key, HIGH_WATER_HEADER, HIGH_WATER_PREFIX)}


def _high_water(data: Mapping[str, object], where: str, key: Ed25519PrivateKey) -> Checkpoint | None:
    """The high-water record in ``data``; None when there is none (written by a kubejit before it had one)."""
    if not any(str(name).startswith(HIGH_WATER_PREFIX) for name in data):
        return None
    return _decode(data, where, key, HIGH_WATER_HEADER, HIGH_WATER_PREFIX)


def _both(data: Mapping[str, object], where: str, key: Ed25519PrivateKey) -> tuple[Checkpoint, Checkpoint | None]:
    """The checkpoint and the high-water mark in ``data`` (one read of the store), checked as by load and
    high_water, in that order."""
    return _decode(data, where, key), _high_water(data, where, key)


def _checked_save(data: Mapping[str, object], checkpoint: Checkpoint, where: str, key: Ed25519PrivateKey) -> None:
    """Refuse to save ``checkpoint`` below (or beside) what the store already holds: checkpoints only grow."""
    held = [_high_water(data, where, key)]
    if any(name in data for name in FIELDS):
        held.append(_decode(data, where, key))
    for record in held:
        if record is None:
            continue
        if checkpoint.seq < record.seq or (checkpoint.seq == record.seq and checkpoint.hash != record.hash):
            raise Refused(
                f"refusing to save an audit checkpoint of event {checkpoint.seq} in {where}: it already holds "
                f"one of event {record.seq} (signed {timestamp(record.at)}), and checkpoints never go back; "
                "run kubejit audit verify"
            )


def _decode(
    data: Mapping[str, object],
    where: str,
    key: Ed25519PrivateKey,
    header: str = CANONICAL_HEADER,
    prefix: str = "",
) -> Checkpoint:
    """The checkpoint (or, with the high-water header and prefix, the high-water mark) in ``data`` if its
    signature verifies with ``key``; Refused otherwise."""
    record = "audit checkpoint" if not prefix else "audit checkpoint's high-water mark"

    def refuse(problem: str) -> Refused:
        return Refused(
            f"the {record} in {where} {problem}: it was altered or replaced, so the audit trail cannot be "
            "trusted against it; investigate before saving a new checkpoint over it"
        )

    values = {name: data.get(_key_name(prefix, name)) for name in ("seq", "hash", "at", "signature")}
    missing = [name for name, value in values.items() if not isinstance(value, str) or not value]
    if missing:
        raise refuse(f"is incomplete (missing {', '.join(missing)})")
    seq, hash_, at, signature = (str(values[n]) for n in ("seq", "hash", "at", "signature"))
    if not _SEQ.fullmatch(seq):
        raise refuse("has a malformed seq")
    if not _HASH.fullmatch(hash_):
        raise refuse("has a malformed hash")
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise refuse("has a malformed time") from None
    if when.tzinfo is None or timestamp(when) != at:
        raise refuse("has a time that is not in canonical form")
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise refuse("has a malformed signature") from None
    checkpoint = Checkpoint(seq=int(seq), hash=hash_, at=when)
    try:
        key.public_key().verify(raw_signature, canonical_text(checkpoint, header))
    except InvalidSignature:
        signer = data.get(_key_name(prefix, "publicKeySha256"))
        ours = public_key_fingerprint(key)
        if isinstance(signer, str) and signer and signer != ours:
            raise refuse(
                f"does not verify: its signature claims key sha256:{signer[:16]}…, not this broker's "
                f"sha256:{ours[:16]}… (was the signing key replaced?)"
            ) from None
        raise refuse("does not verify (seq, hash, time or signature was changed)") from None
    return checkpoint


class ConfigMapCheckpoints:
    """The checkpoint in a ConfigMap (keys seq, hash, at, signature, publicKeySha256)."""

    def __init__(self, client: Client, *, namespace: str, name: str, signing_key: Ed25519PrivateKey) -> None:
        self._client = client
        self._namespace = namespace
        self._name = name
        self._key = signing_key
        self._where = f"ConfigMap {namespace}/{name}"

    def save(self, checkpoint: Checkpoint) -> None:
        """Create the ConfigMap, or update it only if it is still as read (resourceVersion): a writer that
        lost a race gets Conflict and tries again at the next pass, never overwriting a higher mark."""
        current = self._read()
        if current is None:
            config_map = ConfigMap(
                metadata=ObjectMeta(name=self._name, namespace=self._namespace, labels={MANAGED_BY_LABEL: MANAGED_BY}),
                data=_records(checkpoint, self._key),
            )
            with kube_errors(f"create the audit checkpoint {self._where}"):
                self._client.create(config_map)
            return
        _checked_save(current.data or {}, checkpoint, self._where, self._key)
        version = current.metadata.resourceVersion if current.metadata else None
        patch = {"metadata": {"resourceVersion": version}, "data": _records(checkpoint, self._key)}
        with kube_errors(f"update the audit checkpoint {self._where}"):
            self._client.patch(ConfigMap, self._name, patch, namespace=self._namespace, patch_type=PatchType.MERGE)

    def load(self) -> Checkpoint | None:
        config_map = self._read()
        return None if config_map is None else _decode(config_map.data or {}, self._where, self._key)

    def high_water(self) -> Checkpoint | None:
        config_map = self._read()
        return None if config_map is None else _high_water(config_map.data or {}, self._where, self._key)

    def records(self) -> tuple[Checkpoint | None, Checkpoint | None]:
        config_map = self._read()
        return (None, None) if config_map is None else _both(config_map.data or {}, self._where, self._key)

    def _read(self) -> ConfigMap | None:
        try:
            with kube_errors(f"read the audit checkpoint {self._where}"):
                return self._client.get(ConfigMap, self._name, namespace=self._namespace)
        except NotFound:
            return None


class FileCheckpoints:
    """The checkpoint in a JSON file, replaced atomically and readable by its owner only."""

    def __init__(self, path: Path, signing_key: Ed25519PrivateKey) -> None:
        self._path = path
        self._key = signing_key
        self._where = f"file {path}"

    def save(self, checkpoint: Checkpoint) -> None:
        current = self._read()
        if current is not None:
            _checked_save(current, checkpoint, self._where, self._key)
        text = json.dumps(_records(checkpoint, self._key), indent=2) + "\n"
        temporary = self._path.with_name(f".{self._path.name}.{secrets.token_hex(6)}.tmp")
        try:
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            temporary.unlink(missing_ok=True)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.replace(self._path)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise InvalidInput(f"cannot write the audit checkpoint {self._path}: {error.strerror}") from error

    def load(self) -> Checkpoint | None:
        data = self._read()
        return None if data is None else _decode(data, self._where, self._key)

    def high_water(self) -> Checkpoint | None:
        data = self._read()
        return None if data is None else _high_water(data, self._where, self._key)

    def records(self) -> tuple[Checkpoint | None, Checkpoint | None]:
        data = self._read()
        return (None, None) if data is None else _both(data, self._where, self._key)

    def _read(self) -> dict[str, object] | None:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as error:
            raise InvalidInput(f"cannot read the audit checkpoint {self._path}: {error.strerror}") from error
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise Refused(
                f"the audit checkpoint in {self._where} is not the JSON object kubejit writes: it was altered or "
                "replaced, so the audit trail cannot be trusted against it; investigate before saving a new one"
            )
        return data


# ---- the signing key ------------------------------------------------------------------------------------------


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in a PEM file (PKCS#8, unencrypted)."""
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read the audit signing key {path}: {error.strerror}") from error
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        # Never echo the file's content or the parser's detail: it is key material.
        raise InvalidInput(
            f"{path} does not hold an unencrypted PEM private key: generate one with kubejit "
            "(generate_signing_key) or `openssl genpkey -algorithm ed25519`"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path} holds a {type(key).__name__.removeprefix('_')}, not an Ed25519 key")
    return key


def generate_signing_key(path: Path) -> Ed25519PrivateKey:
    """Create a new Ed25519 key, write it to ``path`` (PEM, mode 0600, never over an existing file), return it."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(f"{path} already exists: load it (load_signing_key) instead of replacing it") from None
    except OSError as error:
        raise InvalidInput(f"cannot create the audit signing key {path}: {error.strerror}") from error
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return key
