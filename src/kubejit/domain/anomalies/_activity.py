"""What the detector sees: one recorded gateway event (:class:`Activity`) and its grant's facts (:class:`GrantFacts`).

The gateway records each request with the attributes kube-apiserver authorizes (verb, API group, resource with its
subresource, namespace, name), its outcome (the status, and the reason of a refusal; for a guardrail's refusal
the ``profile`` and ``guardrail``) and the grant it was made under; the broker appends them to the audit chain.
The authorization webhook hands over its denials in the same shape (``source: webhook``), unrecorded (seq 0).
:func:`activity_of` reads such an event back into plain values; ``services/anomaly_watch`` calls it for every
event it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubejit.domain.audit import AuditEvent, AuditKind

# How gateways word a guardrail's refusal. Only records without the structured ``guardrail`` field (gateways
# built before it) are judged by it: see ``_matching._guardrail_denial``.
GUARDRAIL_REFUSAL_PREFIX = "refused by guardrail "
READ_VERBS = frozenset({"get", "list", "watch"})
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
DELETE_VERBS = frozenset({"delete", "deletecollection"})


@dataclass(frozen=True)
class Activity:
    """One recorded request (or exec start, or refusal) under a grant."""

    seq: int  # its audit event's number (0: not recorded, e.g. the authorization webhook's decisions)
    at: datetime
    kind: str  # an AuditKind's value: activity.request, activity.refused, activity.exec, ...
    grant: str
    user: str
    verb: str = ""
    api_group: str = ""
    resource: str = ""  # "pods", "pods/exec": the form RBAC rules name
    namespace: str = ""
    name: str = ""
    status: int = 0  # the HTTP status (0: not known)
    reason: str = ""  # why it was refused
    guardrail: str | None = None  # the guardrail rule that refused it ("" none); None: the record does not say
    source: str = "gateway"  # who saw it: a gateway, or the authorization webhook ("webhook")
    # Of a session (exec, attach, port-forward, watch): "start" when its stream began, "end" when it closed;
    # "" for a plain request, and for streams from gateways that recorded them only at their end.
    phase: str = ""

    @property
    def repeats_start(self) -> bool:
        """A session's end record: the request its start record already stated (with the same verb, resource and
        outcome), so no rule counts it again."""
        return self.phase == "end"

    @property
    def refused(self) -> bool:
        return self.kind == AuditKind.ACTIVITY_REFUSED

    @property
    def forwarded(self) -> bool:
        """Passed the gateway and reached kube-apiserver (whatever it answered)."""
        return self.kind in (AuditKind.ACTIVITY_REQUEST, AuditKind.ACTIVITY_EXEC)

    @property
    def succeeded(self) -> bool:
        return self.forwarded and self.status < 400

    def evidence(self) -> dict[str, Any]:
        """The event as an alert's evidence names it (the audit event's seq finds the whole record)."""
        facts: dict[str, Any] = {"at": self.at.isoformat(), "kind": self.kind, "verb": self.verb}
        for key, value in (
            ("seq", self.seq),  # 0: not recorded (the authorization webhook's decisions)
            ("apiGroup", self.api_group),
            ("resource", self.resource),
            ("namespace", self.namespace),
            ("name", self.name),
            ("status", self.status),
            ("reason", self.reason[:300]),
            ("guardrail", self.guardrail),
            ("source", "" if self.source == "gateway" else self.source),
        ):
            if value:
                facts[key] = value
        return facts

    def describe(self) -> str:
        where = "/".join(part for part in (self.namespace, self.resource, self.name) if part)
        return f"{self.verb} {where or '?'} -> {self.status or '?'}"


@dataclass(frozen=True)
class GrantFacts:
    """What the broker knows of the grant an activity was made under."""

    id: str
    user: str
    profile: str
    namespaces: tuple[str, ...]  # empty: a cluster-wide grant
    break_glass: bool = False
    starts_at: datetime | None = None


def activity_of(event: AuditEvent) -> Activity | None:
    """The activity an audit event records, or None for events that are not activity under a grant."""
    if not event.kind.startswith("activity.") or not event.request_id:
        return None
    data: Mapping[str, Any] = event.data
    status = data.get("status")
    return Activity(
        seq=event.seq,
        at=event.at,
        kind=event.kind,
        grant=event.request_id,
        user=event.actor,
        verb=_text(data.get("verb")),
        api_group=_text(data.get("apiGroup")),
        resource=_text(data.get("resource")),
        namespace=_text(data.get("namespace")),
        name=_text(data.get("name")),
        status=status if isinstance(status, int) and not isinstance(status, bool) else 0,
        reason=_text(data.get("reason")),
        guardrail=data["guardrail"] if isinstance(data.get("guardrail"), str) else None,
        source=_text(data.get("source")) or "gateway",
        phase=_text(data.get("phase")),
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
