"""Reads kube-apiserver's audit log (``--audit-log-path``: JSON lines of ``audit.k8s.io/v1`` Events) into the
requests made directly, with RBAC alone, for ``kubejit profiles rightsize --audit-log``.

A grant's RBAC binding can be used without the gateway (kubectl with the person's own ID token); the gateway
then records nothing, and only kube-apiserver's audit log knows. Each request counts once (its
``ResponseComplete``, or ``ResponseStarted`` for a watch, by auditID). Left out: requests kube-apiserver refused
(401/403, or an authorization decision of ``forbid``) and impersonated requests, which are the gateway's (its
own activity events already record them, with the grant). Attribution to a grant is
:func:`kubejit.domain.rightsize.attribute_direct`. Called by :mod:`kubejit.entrypoints.cli.profiles`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from kubejit.domain.errors import InvalidInput
from kubejit.domain.rightsize import DirectEvent, Source, Use

_COUNTED_STAGES = frozenset({"ResponseComplete", "ResponseStarted", "Panic"})
_REFUSED = (401, 403)


def read_audit_logs(paths: Iterable[Path], since: datetime) -> list[DirectEvent]:
    """The direct requests made at or after ``since`` in every log file; raises InvalidInput, naming the file
    and line, for a file that cannot be read or a line that is not an audit Event."""
    seen: set[str] = set()
    found: list[DirectEvent] = []
    for path in paths:
        for event in _events(path):
            audit_id = str(event.get("auditID") or "")
            if event.get("stage") not in _COUNTED_STAGES or (audit_id and audit_id in seen):
                continue
            seen.add(audit_id)
            direct = direct_event(event)
            if direct is not None and direct.at >= since:
                found.append(direct)
    return found


def _events(path: Path) -> Iterator[dict[str, Any]]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as error:
        raise InvalidInput(f"--audit-log {path}: cannot be read ({error.strerror}): give kube-apiserver's "
                           "--audit-log-path file") from None  # fmt: skip
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError as error:
                raise InvalidInput(
                    f"{path}:{number}: not JSON ({error.msg}): the audit log is one JSON event a line"
                ) from None
            if not isinstance(event, dict) or event.get("kind") != "Event":
                raise InvalidInput(
                    f"{path}:{number}: not an audit.k8s.io Event: give kube-apiserver's --audit-log-path file "
                    "(log format json)"
                )
            yield event


def direct_event(event: dict[str, Any]) -> DirectEvent | None:
    """One Event as a direct request, or None when it is not one (refused, impersonated, without a user)."""
    status = (event.get("responseStatus") or {}).get("code")
    decision = (event.get("annotations") or {}).get("authorization.k8s.io/decision")
    user = str((event.get("user") or {}).get("username") or "")
    if status in _REFUSED or decision == "forbid" or event.get("impersonatedUser") or not user:
        return None
    received = str(event.get("requestReceivedTimestamp") or event.get("stageTimestamp") or "")
    try:
        at = datetime.fromisoformat(received.replace("Z", "+00:00"))
    except ValueError:
        return None
    ref = event.get("objectRef") or {}
    verb = str(event.get("verb") or "")
    resource = str(ref.get("resource") or "")
    if ref.get("subresource"):
        resource = f"{resource}/{ref['subresource']}"
    path = str(event.get("requestURI") or "").partition("?")[0]
    use = Use(
        verb=verb,
        api_group=str(ref.get("apiGroup") or ""),
        resource=resource,
        name=str(ref.get("name") or ""),
        path="" if resource else path,
        source=Source.APISERVER,
    )
    return DirectEvent(user=user, at=at, namespace=str(ref.get("namespace") or ""), use=use)
