"""A pod-writing request's body -> the containers it would start (:class:`PodCommands`), or why it cannot tell.

Why this exists: the exec guardrail (``kubejit.domain.guardrails``) checks container command lines like exec
command lines, and the command lines of ``kubectl run``, ``kubectl debug`` or ``kubectl apply`` are in the body.
:func:`extract_pod_commands` is called by the guardrail evaluation with the body the gateway read (only for the
requests :func:`~._kinds.writes_pod_commands` names). It never raises: whatever it cannot read becomes a reason in
``PodCommands.unknown``, which the guardrail refuses when it fails closed.

Bodies read: JSON (``application/json``; YAML media types only when the text is JSON, as kubectl sends it), for
``POST``/``PUT`` a whole object, for ``PATCH`` a strategic merge patch or a server-side apply configuration
(merging: see :mod:`._containers`), a JSON merge patch (lists are replaced, so containers are whole) or a JSON
patch (:mod:`._json_patch`). Not read (cannot tell): protobuf and CBOR, any ``Content-Encoding``, a body over
:data:`MAX_BODY_BYTES`, text that is not JSON, and JSON with a key twice in one object (two readers could
take different values).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubejit.domain.pod_commands._containers import PodCommands, Reading
from kubejit.domain.pod_commands._json_patch import read_json_patch
from kubejit.domain.pod_commands._kinds import adds_ephemeral_containers, pod_spec_path
from kubejit.domain.requestinfo import RequestAttributes

# Far above any real pod or workload (etcd keeps objects under 1.5 MiB, and kubectl apply's annotation doubles a
# manifest), low enough that parsing it on the gateway's event loop takes milliseconds.
MAX_BODY_BYTES = 1024 * 1024

_JSON = "application/json"
_YAML_TYPES = frozenset({"application/yaml", "application/apply-patch+yaml"})
_MERGING_PATCHES = frozenset({"application/strategic-merge-patch+json", "application/apply-patch+yaml"})
_MERGE_PATCH = "application/merge-patch+json"
_JSON_PATCH = "application/json-patch+json"
_SEND_JSON = "send the body as JSON (as kubectl does)"


@dataclass(frozen=True)
class RequestBody:
    """A request body as the gateway received it, with the headers that say how to read it."""

    data: bytes
    content_type: str = ""
    content_encoding: str = ""

    @property
    def media_type(self) -> str:
        return self.content_type.partition(";")[0].strip().lower()


def extract_pod_commands(attrs: RequestAttributes, body: RequestBody | None) -> PodCommands:
    """The containers this request would start. Never raises; see the module docstring for what is read."""
    spec_path = pod_spec_path(attrs)
    if spec_path is None:
        return PodCommands()
    if body is None:
        return PodCommands(unknown=("the gateway did not read the request body",))
    problem = _unreadable(attrs, body)
    if problem:
        return PodCommands(unknown=(problem,))
    try:
        document = json.loads(body.data, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKey as duplicate:
        return PodCommands(unknown=(f"the key {duplicate.key!r} appears twice in one object of the body",))
    except (ValueError, RecursionError):
        return PodCommands(unknown=(f"the body is not JSON ({body.media_type or 'no Content-Type'}): {_SEND_JSON}",))
    whole = frozenset({"ephemeralContainers"}) if adds_ephemeral_containers(attrs) else frozenset()
    media = body.media_type
    reading = Reading(merging=attrs.verb == "patch" and media in _MERGING_PATCHES, whole_lists=whole)
    if media == _JSON_PATCH and attrs.verb == "patch":
        read_json_patch(document, spec_path, reading)
    else:
        reading.pod_spec_at(document, spec_path, "")
    return reading.result()


def _unreadable(attrs: RequestAttributes, body: RequestBody) -> str:
    """Why the body cannot be read at all ("" when it can be parsed)."""
    if body.content_encoding.strip().lower() not in ("", "identity"):
        return f"the body is sent with Content-Encoding {body.content_encoding[:40]!r}: send it uncompressed"
    if len(body.data) > MAX_BODY_BYTES:
        return f"the body is larger than {MAX_BODY_BYTES} bytes, the most the gateway reads for container commands"
    media = body.media_type
    if attrs.verb == "patch":
        known = media in _MERGING_PATCHES or media in (_MERGE_PATCH, _JSON_PATCH)
        return "" if known else f"the patch type {media[:80] or '(none)'!r} is not one the gateway evaluates"
    if media in ("", _JSON) or media in _YAML_TYPES:
        return ""
    return f"the body is sent as {media[:80]!r}, which the gateway does not read: {_SEND_JSON}"


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key[:80])
            seen.add(key)
    return document
