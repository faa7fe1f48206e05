"""Anomaly alerts on the live activity stream: what gateways record is checked against the policy's ``spec.alerts``
as each batch is recorded, and an alert is audited, sent to the webhooks, counted, and (``action: revoke``) ends
the grant at once.

``GatewayFeed.record_activity`` hands every batch it appended to :meth:`AnomalyWatch.observe` right after its
commit, in the request that delivered it, so an alert follows its triggering request by the gateway's batch delay
and a few milliseconds (docs/alerts.md has the measured figure); the authorization webhook hands over its denials
as it answers them (``AuthorizationWebhook.on_decision``). The windows live in this process's memory
(:class:`~kubejit.domain.anomalies.Detector`); at start, :meth:`AnomalyWatch.warm_up` refills them from the
activity recorded within the longest rule window (alerts those events raised were raised when they came, so the
replay raises none), so a burst that straddles a restart is still seen. With several broker replicas each judges
the batches it receives. An alert is:

* an audit event ``alert.raised`` (actor ``kubejit``, the grant as its request id; rule, user, summary and the
  evidence: the counted events with their audit seq), which the audit API lists with ``kind=alert.raised``;
* a notification ``alert.raised`` to every webhook that wants it (the generic body carries an ``alert`` block);
* ``alert_raised(rule)`` on the metrics hook (a no-op unless bootstrap wires one);
* for a ``revoke`` rule, the grant revoked by :meth:`~kubejit.services.access.AccessService.revoke_by_broker`
  (actor ``kubejit``, a reason naming the rule; the broker's own decision, so no one's authorization is checked
  and no policy is widened); the gateways drop it from their grant book within a second.

Built by ``kubejit.bootstrap``; nothing here may fail a batch that is already recorded: errors are logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from kubejit.domain.anomalies import (
    ALERT_EVENT,
    Action,
    Alert,
    AlertRule,
    Detector,
    GrantFacts,
    RuleKind,
    activity_of,
)
from kubejit.domain.audit import AuditEvent, AuditKind
from kubejit.domain.errors import KubejitError, NotFound
from kubejit.domain.policy import AccessPolicy
from kubejit.domain.workflow import AccessRequest
from kubejit.ports import Clock, Notification, Notifier, UnitOfWorkFactory

log = logging.getLogger("kubejit.alerts")

BROKER_ACTOR = "kubejit"  # who the audit trail names for what the broker does on its own
_CACHED_GRANTS = 10_000
_ACTIVITY_KINDS = (
    AuditKind.ACTIVITY_REQUEST,
    AuditKind.ACTIVITY_REFUSED,
    AuditKind.ACTIVITY_EXEC,
    AuditKind.ACTIVITY_SESSION_CLOSED,
)
WARM_UP_LIMIT = timedelta(hours=4)  # the replay reads no further back than this, whatever a rule's window
WARM_UP_MAX_EVENTS = 200_000  # nor more events than this, and for no longer than WARM_UP_SECONDS: a bound on
WARM_UP_SECONDS = 15  # the start-up time (the liveness probe waits for the broker); beyond it, no replay at all
FIRED_HORIZON = timedelta(hours=24)  # how far back the once-per-grant alerts already raised are looked up
_WARM_UP_PAGE = 2_000


class AlertCounter(Protocol):
    """The metrics hook: called once per alert with the rule's name."""

    def __call__(self, rule: str, /) -> None: ...


def _no_metrics(_rule: str) -> None:
    return None


@dataclass
class AnomalyWatch:
    policy: Callable[[], AccessPolicy]
    uow: UnitOfWorkFactory
    clock: Clock
    notifier: Notifier
    revoke: Callable[[str, str], object]  # (grant id, reason): AccessService.revoke_by_broker
    alert_raised: AlertCounter = _no_metrics
    on_audit: Callable[[], None] = lambda: None
    detector: Detector = field(init=False)
    _grants: OrderedDict[str, AccessRequest] = field(default_factory=OrderedDict)
    # Batches and webhook decisions arrive on the API's worker threads: one at a time through the windows.
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.detector = Detector(started=self.clock.now())

    def warm_up(self) -> int:
        """Refill the windows from the activity recorded within the longest rule window (at most
        :data:`WARM_UP_LIMIT` back); the number of events replayed. Called once at start, before batches arrive.

        Nothing is raised for replayed events: they were judged when they came. A replayed alert of a ``revoke``
        rule clears its grant's windows as the revoke did then, and the break-glass rules that already fired (the
        ``alert.raised`` events of the last :data:`FIRED_HORIZON`) are not fired again. A replay that would read
        more than :data:`WARM_UP_MAX_EVENTS` events or take more than :data:`WARM_UP_SECONDS` is given up (with a
        warning): half a replay would miss the newest events, the ones that matter. Never raises: without the
        replay the windows start empty."""
        try:
            rules = self.policy().alerts
            if not rules:
                return 0
            now = self.clock.now()
            since = now - min(max(rule.window for rule in rules), WARM_UP_LIMIT)
            with self._lock:
                self.detector = Detector(started=since)  # quiet time is counted from the replay's start
                replayed = self._replay(rules, since)
                if replayed is None:
                    self.detector = Detector(started=now)
                    log.warning(
                        "alert windows start empty: more activity since %s than a start-up replay reads (%d events "
                        "or %d s)",
                        since.isoformat(),
                        WARM_UP_MAX_EVENTS,
                        WARM_UP_SECONDS,
                    )
                    return 0
                self._mark_fired(now - FIRED_HORIZON)
            log.info("alert windows refilled from %d activity events since %s", replayed, since.isoformat())
            return replayed
        except Exception:
            log.exception("could not refill the alert windows from the audit trail: they start empty")
            with self._lock:
                self.detector = Detector(started=self.clock.now())
            return 0

    def _replay(self, rules: Sequence[AlertRule], since: datetime) -> int | None:
        """Feed the recorded activity since ``since`` through the windows; how many events, None if too many."""
        replayed, after, budget = 0, 0, time.monotonic() + WARM_UP_SECONDS
        while True:
            with self.uow(read_only=True) as uow:
                page = uow.audit.query(since=since, kinds=_ACTIVITY_KINDS, after_seq=after, limit=_WARM_UP_PAGE)
            if not page:
                return replayed
            replayed, after = replayed + len(page), page[-1].seq
            if replayed > WARM_UP_MAX_EVENTS or time.monotonic() > budget:
                return None
            for alert, _ in self._detect(rules, page):  # raised, or not, when the events came
                if alert.rule.action is Action.REVOKE:
                    self.detector.forget(alert.grant.id)  # as the revoke did then

    def _mark_fired(self, since: datetime) -> None:
        with self.uow(read_only=True) as uow:
            raised = uow.audit.query(since=since, kinds=(AuditKind.ALERT_RAISED,), limit=WARM_UP_MAX_EVENTS)
        for event in raised:
            if event.request_id and event.data.get("ruleKind") == RuleKind.BREAK_GLASS.value:
                self.detector.mark_fired(event.request_id, str(event.data.get("rule")))

    def observe(self, events: Sequence[AuditEvent]) -> list[Alert]:
        """Check activity events against the policy's alert rules; raise what fires. Never raises.

        The events are a gateway's batch as recorded (``GatewayFeed.on_activity``) or the authorization webhook's
        denials, not recorded (``AuthorizationWebhook.on_decision``: seq 0, ``source: webhook``)."""
        try:
            rules = self.policy().alerts
            if not rules:
                return []
            with self._lock:
                raised = self._detect(rules, events)
            for alert, request in raised:
                self._raise(alert, request)
            return [alert for alert, _ in raised]
        except Exception:  # the batch is recorded already: an alert that cannot be raised must not undo it
            log.exception("could not check activity against the alert rules")
            return []

    def _detect(self, rules: Sequence[AlertRule], events: Sequence[AuditEvent]) -> list[tuple[Alert, AccessRequest]]:
        raised: list[tuple[Alert, AccessRequest]] = []
        for event in events:
            activity = activity_of(event)
            request = self._grant(activity.grant) if activity is not None else None
            if activity is None or request is None:
                continue
            raised.extend((alert, request) for alert in self.detector.observe(rules, activity, facts_of(request)))
        return raised

    def _grant(self, grant_id: str) -> AccessRequest | None:
        """The grant's request (read once, then kept: its user, profile and namespaces do not change)."""
        cached = self._grants.pop(grant_id, None)
        if cached is None:
            try:
                with self.uow(read_only=True) as uow:
                    cached = uow.requests.get(grant_id).request
            except NotFound:
                return None
        self._grants[grant_id] = cached
        while len(self._grants) > _CACHED_GRANTS:
            self._grants.popitem(last=False)
        return cached

    def _raise(self, alert: Alert, request: AccessRequest) -> None:
        now = self.clock.now()
        data = alert.data()
        with self.uow() as uow:
            recorded = uow.audit.append(
                kind=AuditKind.ALERT_RAISED, actor=BROKER_ACTOR, at=now, request_id=alert.grant.id, data=data
            )
            uow.commit()
        self.on_audit()
        log.warning("alert %s: %s", alert.rule.name, alert.summary)
        self.notifier.notify(
            Notification(
                ALERT_EVENT, request, now, f"alert: {alert.summary}", details={"alert": {**data, "seq": recorded.seq}}
            )
        )
        self.alert_raised(alert.rule.name)
        if alert.rule.action is Action.REVOKE:
            self._revoke(alert, recorded.seq)

    def _revoke(self, alert: Alert, seq: int) -> None:
        rule = alert.rule
        try:
            self.revoke(alert.grant.id, f"alert rule {rule.name} ({rule.kind.value}) fired: audit event {seq}")
        except KubejitError as error:  # already ended, or revoked by someone else meanwhile
            log.warning("alert rule %s could not revoke %s: %s", alert.rule.name, alert.grant.id, error)
        self._grants.pop(alert.grant.id, None)  # read again next time: it is no longer what was cached
        self.detector.forget(alert.grant.id)


def facts_of(request: AccessRequest) -> GrantFacts:
    return GrantFacts(
        id=request.id,
        user=request.requester.user,
        profile=request.profile,
        namespaces=tuple(request.namespaces),
        break_glass=request.break_glass,
        starts_at=request.starts_at,
    )
