"""The detector: bounded windows of one grant's recent activity per rule, and the alerts they raise.

``services/anomaly_watch`` keeps one :class:`Detector` and feeds it every activity event as its batch is recorded,
with the rules of the current policy and the facts of the event's grant. Windows slide on the events' own times
(the broker's clock when it recorded them): an event older than ``window`` before the newest falls out. A window
that reaches its rule's threshold raises an alert and starts again empty, so one burst raises one alert and the
next needs the threshold again. Memory is bounded: a window never holds more than its threshold (which the policy
caps), and the detector forgets the grants it heard from least recently beyond ``max_grants``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kubejit.domain.anomalies._activity import Activity, GrantFacts
from kubejit.domain.anomalies._matching import COUNTED_KINDS, counting_key, counts, is_rbac_write, is_workload_write
from kubejit.domain.anomalies._rules import AlertRule, RuleKind
from kubejit.domain.durations import format_duration


@dataclass(frozen=True)
class Alert:
    """A rule that fired: on which grant (and so which user), when, and the events that made it fire."""

    rule: AlertRule
    grant: GrantFacts
    at: datetime
    evidence: tuple[Activity, ...]
    summary: str  # one sentence for people

    @property
    def user(self) -> str:
        return self.grant.user

    def data(self) -> dict[str, Any]:
        """What the audit event ``alert.raised`` records."""
        return {
            "rule": self.rule.name,
            "ruleKind": self.rule.kind.value,
            "action": self.rule.action.value,
            "user": self.grant.user,
            "profile": self.grant.profile,
            "summary": self.summary,
            "evidence": [activity.evidence() for activity in self.evidence],
        }


@dataclass
class _Window:
    """The counted events of one rule and grant, oldest first; a key seen again replaces its older event."""

    entries: OrderedDict[object, Activity] = field(default_factory=OrderedDict)
    _counter: int = 0

    def slide(self, now: datetime, width: timedelta) -> None:
        while self.entries:
            oldest = next(iter(self.entries.values()))
            if now - oldest.at < width:
                return
            self.entries.popitem(last=False)

    def add(self, key: str | None, activity: Activity) -> None:
        if key is None:
            self._counter += 1
            self.entries[self._counter] = activity
            return
        self.entries.pop(key, None)
        self.entries[key] = activity

    def take(self) -> tuple[Activity, ...]:
        taken = tuple(self.entries.values())
        self.entries.clear()
        return taken


@dataclass
class _GrantState:
    windows: dict[str, _Window] = field(default_factory=dict)  # by rule name
    last_seen: datetime | None = None  # the grant's previous activity
    fired_once: set[str] = field(default_factory=set)  # rules that fire once per grant (break-glass)

    def window(self, rule: AlertRule) -> _Window:
        return self.windows.setdefault(rule.name, _Window())


@dataclass
class Detector:
    """Raises alerts from a grant's activity. ``started`` is when watching began: a grant is not called idle for
    the time before it (activity then was not seen)."""

    started: datetime
    max_grants: int = 10_000
    _grants: OrderedDict[str, _GrantState] = field(default_factory=OrderedDict)

    def observe(self, rules: Sequence[AlertRule], activity: Activity, grant: GrantFacts) -> list[Alert]:
        """The alerts ``activity`` raises under ``rules`` (usually none). A session's end raises none: its start
        was counted (a watch of Secrets is one read, a port-forward one workload write, a break-glass exec one
        request), and its stream was in use until it ended, so the end only moves when the grant was last used."""
        state = self._state(grant.id)
        alerts = []
        for rule in () if activity.repeats_start else rules:
            if rule.profiles and grant.profile not in rule.profiles:
                continue
            alert = self._apply(rule, activity, grant, state)
            if alert is not None:
                alerts.append(alert)
        state.last_seen = activity.at if state.last_seen is None else max(state.last_seen, activity.at)
        return alerts

    def forget(self, grant_id: str) -> None:
        self._grants.pop(grant_id, None)

    def mark_fired(self, grant_id: str, rule_name: str) -> None:
        """A once-per-grant rule (break-glass) already fired on this grant (before a restart): not again."""
        self._state(grant_id).fired_once.add(rule_name)

    def _state(self, grant_id: str) -> _GrantState:
        state = self._grants.pop(grant_id, None) or _GrantState()
        self._grants[grant_id] = state  # the most recently heard from is last
        while len(self._grants) > self.max_grants:
            self._grants.popitem(last=False)
        return state

    def _apply(self, rule: AlertRule, activity: Activity, grant: GrantFacts, state: _GrantState) -> Alert | None:
        if rule.kind in COUNTED_KINDS:
            return self._count(rule, activity, grant, state)
        if rule.kind is RuleKind.RBAC_THEN_WORKLOAD:
            return self._rbac_then_workload(rule, activity, grant, state)
        if rule.kind is RuleKind.BREAK_GLASS:
            return self._break_glass(rule, activity, grant, state)
        return self._idle(rule, activity, grant, state)

    def _count(self, rule: AlertRule, activity: Activity, grant: GrantFacts, state: _GrantState) -> Alert | None:
        if not counts(rule, activity, grant):
            return None
        window = state.window(rule)
        window.slide(activity.at, rule.window)
        window.add(counting_key(rule, activity), activity)
        if len(window.entries) < rule.threshold:
            return None
        evidence = window.take()
        return Alert(rule, grant, activity.at, evidence, summary_of(rule, grant, evidence))

    def _rbac_then_workload(
        self, rule: AlertRule, activity: Activity, grant: GrantFacts, state: _GrantState
    ) -> Alert | None:
        window = state.window(rule)
        window.slide(activity.at, rule.window)
        if is_rbac_write(activity):
            window.add(None, activity)
            return None
        if not is_workload_write(activity) or not window.entries:
            return None
        evidence = (*window.take(), activity)
        return Alert(rule, grant, activity.at, evidence, summary_of(rule, grant, evidence))

    def _break_glass(self, rule: AlertRule, activity: Activity, grant: GrantFacts, state: _GrantState) -> Alert | None:
        if not grant.break_glass or rule.name in state.fired_once:
            return None
        window = state.window(rule)
        window.slide(activity.at, rule.window)
        window.add(None, activity)
        if len(window.entries) < rule.threshold:
            return None
        state.fired_once.add(rule.name)
        evidence = window.take()
        return Alert(rule, grant, activity.at, evidence, summary_of(rule, grant, evidence))

    def _idle(self, rule: AlertRule, activity: Activity, grant: GrantFacts, state: _GrantState) -> Alert | None:
        since = state.last_seen
        if since is None:
            since = max(grant.starts_at or self.started, self.started)
        quiet = activity.at - since
        if quiet < rule.window:
            return None
        summary = (
            f"{grant.user} used grant {grant.id} ({grant.profile}) again after {format_duration(_whole(quiet))} "
            f"without activity (rule {rule.name}: quiet for {format_duration(rule.window)} or more)"
        )
        return Alert(rule, grant, activity.at, (activity,), summary)


def _whole(duration: timedelta) -> timedelta:
    return timedelta(seconds=int(duration.total_seconds()))


_PHRASES = {
    RuleKind.GUARDRAIL_DENIAL: "{n} request(s) refused by guardrails",
    RuleKind.FORBIDDEN_BURST: "{n} requests answered 403 Forbidden",
    RuleKind.SECRET_BURST: "{n} distinct Secrets read",
    RuleKind.DELETE_BURST: "{n} deletes",
    RuleKind.PRIVILEGED_EXEC: "exec or attach into a watched pod ({what})",
    RuleKind.EPHEMERAL_CONTAINER: "an ephemeral container added to a pod ({what})",
    RuleKind.RBAC_THEN_WORKLOAD: "an RBAC change followed by a workload change ({what})",
    RuleKind.BREAK_GLASS: "used a break-glass grant ({n} request(s))",
    RuleKind.OUTSIDE_NAMESPACES: "{n} attempt(s) outside the grant's namespaces ({what})",
    RuleKind.EVENT_DELETION: "deleted Events ({what})",
}


def summary_of(rule: AlertRule, grant: GrantFacts, evidence: Sequence[Activity]) -> str:
    """One sentence: who, which grant, what happened, and the rule with its threshold and window."""
    what = ", ".join(activity.describe() for activity in evidence[-3:])
    phrase = _PHRASES[rule.kind].format(n=len(evidence), what=what)
    within = f"within {format_duration(rule.window)}" if len(evidence) > 1 else ""
    return " ".join(
        part
        for part in (f"{grant.user} on grant {grant.id} ({grant.profile}): {phrase}", within, f"(rule {rule.name})")
        if part
    )
