"""The anomaly watch on recorded activity: an alert is audited, notified (with its facts in the generic body),
counted, and a revoke rule revokes the grant as the broker; the policy file's ``spec.alerts`` section."""

from __future__ import annotations

import typing
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from kubejit.adapters.notify import generic_payload
from kubejit.adapters.policy_file import AlertKindName, load_policy
from kubejit.domain.anomalies import Action, RuleKind, rule_with_defaults
from kubejit.domain.audit import AuditKind
from kubejit.domain.policy import AccessPolicy, PolicyError
from kubejit.domain.workflow import State
from kubejit.entrypoints.cli.audit_text import describe
from kubejit.services import anomaly_watch
from kubejit.services.access import AccessService
from kubejit.services.anomaly_watch import AnomalyWatch
from kubejit.services.gateway_feed import GatewayFeed
from tests.unit.fakes import FakeClock, FakeStore, RecordingNotifier
from tests.unit.policies import ALICE, policy


class _Signer:
    def sign(self, claims: dict[str, Any]) -> str:
        return "token"


def setup(*rules: Any) -> tuple[GatewayFeed, AnomalyWatch, AccessService, FakeStore, RecordingNotifier, list[str]]:
    store, clock, notifier = FakeStore(), FakeClock(), RecordingNotifier()
    current: AccessPolicy = replace(policy(), alerts=tuple(rules))
    access = AccessService(lambda: current, store, clock, notifier)
    counted: list[str] = []
    watch = AnomalyWatch(lambda: current, store, clock, notifier, access.revoke_by_broker, alert_raised=counted.append)
    feed = GatewayFeed(lambda: current, store, clock, _Signer(), on_activity=watch.observe)
    return feed, watch, access, store, notifier, counted


def active_grant(store: FakeStore, access: AccessService) -> str:
    request = access.submit(
        ALICE, profile="payments-debug", namespaces=("payments",), duration=timedelta(minutes=30), reason="INC-1"
    )
    with store() as uow:
        stored = uow.requests.get(request.id)
        now = access.clock.now()
        active = replace(stored.request, state=State.ACTIVE, starts_at=now, ends_at=now + timedelta(minutes=30))
        uow.requests.update(active, stored.version)
        uow.commit()
    return request.id


def forbidden(grant: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "kind": "activity.refused",
            "user": "alice",
            "grant": grant,
            "verb": "get",
            "resource": "secrets",
            "namespace": "payments",
            "name": f"s{i}",
            "status": 403,
            "reason": "no",
        }
        for i in range(n)
    ]


def test_an_alert_is_audited_notified_and_counted() -> None:
    feed, _watch, access, store, notifier, counted = setup(
        rule_with_defaults("too-many-403", RuleKind.FORBIDDEN_BURST, threshold=3)
    )
    grant = active_grant(store, access)
    feed.record_activity("gw", forbidden(grant, 2))
    assert AuditKind.ALERT_RAISED not in store.kinds()
    feed.record_activity("gw", forbidden(grant, 1))
    alerts = [e for e in store.db.audit if e.kind == AuditKind.ALERT_RAISED]
    assert len(alerts) == 1
    event = alerts[0]
    assert (event.actor, event.request_id, event.data["rule"], event.data["user"]) == (
        "kubejit",
        grant,
        "too-many-403",
        "alice",
    )
    activity_seqs = [e.seq for e in store.db.audit if e.kind == AuditKind.ACTIVITY_REFUSED]
    assert [item["seq"] for item in event.data["evidence"]] == activity_seqs
    assert counted == ["too-many-403"]
    sent = [n for n in notifier.sent if n.event == "alert.raised"]
    assert len(sent) == 1
    body = generic_payload(sent[0])
    assert (body["request"]["id"], body["request"]["requester"]) == (grant, "alice")
    assert (body["alert"]["rule"], len(body["alert"]["evidence"])) == ("too-many-403", 3)
    assert "too-many-403" in body["message"]
    assert describe(event.kind, event.data).startswith("ALERT too-many-403 (notify): alice on grant")


def test_a_revoke_rule_revokes_the_grant_as_the_broker() -> None:
    feed, _watch, access, store, notifier, _ = setup(
        rule_with_defaults("cut", RuleKind.FORBIDDEN_BURST, threshold=2, action=Action.REVOKE)
    )
    grant = active_grant(store, access)
    feed.record_activity("gw", forbidden(grant, 2))
    with store() as uow:
        request = uow.requests.get(grant).request
    assert request.state is State.REVOKED
    assert request.ended_by == "kubejit"
    assert request.end_reason.startswith("alert rule cut (forbidden-burst) fired: audit event ")
    revoked = [e for e in store.db.audit if e.kind == AuditKind.GRANT_REVOKED]
    assert [e.actor for e in revoked] == ["kubejit"]
    assert "grant.ended" in notifier.events()
    # what arrives after the revoke fires again, but revoking an ended grant is only logged
    feed.record_activity("gw", forbidden(grant, 2))
    assert len([e for e in store.db.audit if e.kind == AuditKind.GRANT_REVOKED]) == 1


def test_the_broker_revokes_without_becoming_an_admin_elsewhere() -> None:
    _feed, _watch, access, _store, _n, _ = setup()
    assert "kubejit" not in access.policy().admins.users


def test_no_rules_no_reads() -> None:
    feed, watch, access, store, _notifier, _ = setup()
    grant = active_grant(store, access)
    feed.record_activity("gw", forbidden(grant, 10))
    assert AuditKind.ALERT_RAISED not in store.kinds()
    assert watch._grants == {}


def test_a_failing_watch_does_not_fail_the_batch() -> None:
    feed, watch, access, store, _n, _ = setup(rule_with_defaults(None, RuleKind.FORBIDDEN_BURST, threshold=1))
    grant = active_grant(store, access)

    def broken(_rule: str) -> None:
        raise RuntimeError("metrics down")

    watch.alert_raised = broken
    assert feed.record_activity("gw", forbidden(grant, 1)) == 1
    assert AuditKind.ALERT_RAISED in store.kinds()  # audited before the hook failed


def test_activity_of_unknown_grants_or_without_one_is_skipped() -> None:
    feed, _watch, _access, store, _n, _ = setup(rule_with_defaults(None, RuleKind.FORBIDDEN_BURST, threshold=1))
    events = [*forbidden("req-missing", 1), {**forbidden("", 1)[0], "grant": ""}]
    assert feed.record_activity("gw", events) == 2
    assert AuditKind.ALERT_RAISED not in store.kinds()


POLICY = """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: alerts}
spec:
  profiles:
    - name: debug
      clusterRole: view
      namespaces: [payments]
      requesters: {groups: [devs]}
      approval: {approvers: {groups: [leads]}}
  alerts:
"""


def test_the_policy_file_reads_alert_rules_with_their_defaults() -> None:
    loaded = load_policy(
        POLICY
        + "    - {kind: secret-burst}\n"
        + "    - {name: cut-on-403, kind: forbidden-burst, threshold: 3, window: 1m, action: revoke,"
        + " profiles: [debug]}\n"
        + "    - {kind: privileged-exec, names: ['etcd-*']}\n"
    )
    burst, cut, exec_rule = loaded.alerts
    assert (burst.name, burst.threshold, burst.window, burst.action) == (
        "secret-burst",
        5,
        timedelta(minutes=2),
        Action.NOTIFY,
    )
    assert (cut.name, cut.threshold, cut.window, cut.action, cut.profiles) == (
        "cut-on-403",
        3,
        timedelta(minutes=1),
        Action.REVOKE,
        ("debug",),
    )
    assert (exec_rule.namespaces, exec_rule.names) == (("kube-system",), ("etcd-*",))


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ("    - {kind: idle-grant, threshold: 3}\n", "spec.alerts[0].threshold: idle-grant rules take no threshold"),
        ("    - {kind: secret-burst, names: [x]}\n", "spec.alerts[0].names: secret-burst rules take no names"),
        ("    - {kind: secret-burst}\n    - {kind: secret-burst}\n", "spec.alerts[1].name: alert rule 'secret-burst'"),
        ("    - {kind: secret-burst, profiles: [nope]}\n", "spec.alerts[0].profiles[0]: there is no profile 'nope'"),
        ("    - {kind: secret-burst, threshold: 1000}\n", "spec.alerts[0].threshold"),
        ("    - {kind: secret-burst, window: soon}\n", "spec.alerts[0].window"),
        ("    - {kind: secret-burst, window: 0s}\n", "spec.alerts[0].window"),
        ("    - {kind: secrets}\n", "spec.alerts[0].kind: must be"),
        ("    - {kind: secret-burst, action: page}\n", "spec.alerts[0].action"),
    ],
)
def test_bad_alert_rules_are_refused_where_they_are(rules: str, problem: str) -> None:
    with pytest.raises(PolicyError) as refused:
        load_policy(POLICY + rules, "policy.yaml")
    assert problem in str(refused.value)
    assert "policy.yaml:1" in str(refused.value)


def test_the_file_format_names_every_rule_kind() -> None:
    assert set(typing.get_args(AlertKindName)) == {kind.value for kind in RuleKind}


# ---- a restart: the windows refilled from the recorded activity ---------------------------------------------------


def restarted(watch: AnomalyWatch, store: FakeStore, access: AccessService, *, warm: bool = True) -> GatewayFeed:
    """The broker started again on the same store: a new watch (warmed up, as bootstrap does) and its feed."""
    again = AnomalyWatch(watch.policy, store, access.clock, watch.notifier, access.revoke_by_broker)
    if warm:
        again.warm_up()
    return GatewayFeed(watch.policy, store, access.clock, _Signer(), on_activity=again.observe)


def alerts_in(store: FakeStore) -> int:
    return len([e for e in store.db.audit if e.kind == AuditKind.ALERT_RAISED])


@pytest.mark.parametrize("warm", [True, False])
def test_a_burst_that_straddles_a_restart_is_still_seen(warm: bool) -> None:
    feed, watch, access, store, _, _ = setup(rule_with_defaults("too-many-403", RuleKind.FORBIDDEN_BURST, threshold=3))
    grant = active_grant(store, access)
    feed.record_activity("gw", forbidden(grant, 2))
    restarted(watch, store, access, warm=warm).record_activity("gw", forbidden(grant, 3)[2:])
    if not warm:  # with empty windows the third refusal is the first one seen
        assert alerts_in(store) == 0
        return
    alert = next(e for e in store.db.audit if e.kind == AuditKind.ALERT_RAISED)
    assert len(alert.data["evidence"]) == 3  # two of them recorded before the restart
    assert [item["name"] for item in alert.data["evidence"]] == ["s0", "s1", "s2"]


def test_the_replay_raises_nothing_again_and_restores_an_emptied_window() -> None:
    feed, watch, access, store, notifier, _ = setup(
        rule_with_defaults("too-many-403", RuleKind.FORBIDDEN_BURST, threshold=3)
    )
    grant = active_grant(store, access)
    feed.record_activity("gw", forbidden(grant, 3))
    assert alerts_in(store) == 1
    sent = len(notifier.sent)
    again = restarted(watch, store, access)
    assert (alerts_in(store), len(notifier.sent)) == (1, sent)  # raised once, when it happened
    again.record_activity("gw", forbidden(grant, 2))
    assert alerts_in(store) == 1  # the window emptied when it fired, as it did then
    again.record_activity("gw", forbidden(grant, 1))
    assert alerts_in(store) == 2


@pytest.mark.parametrize(("minutes", "replayed"), [(4, 2), (6, 0)])
def test_activity_older_than_the_longest_window_is_not_replayed(minutes: int, replayed: int) -> None:
    rule = rule_with_defaults("too-many-403", RuleKind.FORBIDDEN_BURST, threshold=3, window=timedelta(minutes=5))
    feed, watch, access, store, _, _ = setup(rule)
    grant = active_grant(store, access)
    feed.record_activity("gw", forbidden(grant, 2))
    access.clock.advance(minutes=minutes)  # type: ignore[attr-defined]
    fresh = AnomalyWatch(watch.policy, store, access.clock, watch.notifier, access.revoke_by_broker)
    assert fresh.warm_up() == replayed


def test_a_replay_too_long_for_the_start_is_given_up_not_half_done(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    feed, watch, access, store, _, _ = setup(rule_with_defaults("too-many-403", RuleKind.FORBIDDEN_BURST, threshold=3))
    grant = active_grant(store, access)
    feed.record_activity("gw", forbidden(grant, 2))
    monkeypatch.setattr(anomaly_watch, "WARM_UP_MAX_EVENTS", 1)
    monkeypatch.setattr(anomaly_watch, "_WARM_UP_PAGE", 1)
    fresh = AnomalyWatch(watch.policy, store, access.clock, watch.notifier, access.revoke_by_broker)
    assert fresh.warm_up() == 0
    assert "alert windows start empty" in caplog.text


def test_a_replayed_revoke_clears_the_grants_windows_as_the_revoke_did() -> None:
    cut = rule_with_defaults("cut", RuleKind.FORBIDDEN_BURST, threshold=2, action=Action.REVOKE)
    notice = rule_with_defaults("notice", RuleKind.FORBIDDEN_BURST, threshold=3)
    feed, watch, access, store, _, _ = setup(cut, notice)
    grant = active_grant(store, access)
    feed.record_activity("gw", forbidden(grant, 2))  # cut fires and revokes: notice's two are forgotten with it
    assert [e.data["rule"] for e in store.db.audit if e.kind == AuditKind.ALERT_RAISED] == ["cut"]
    restarted(watch, store, access).record_activity("gw", forbidden(grant, 3)[2:])
    assert alerts_in(store) == 1  # notice holds one refusal, as the process that saw them all would


@pytest.mark.parametrize("warm", [True, False])
def test_a_break_glass_alert_is_not_raised_again_after_a_restart(warm: bool) -> None:
    feed, watch, access, store, _, _ = setup(rule_with_defaults("glass", RuleKind.BREAK_GLASS))
    grant = active_grant(store, access)
    with store() as uow:
        stored = uow.requests.get(grant)
        uow.requests.update(replace(stored.request, break_glass=True), stored.version)
        uow.commit()
    feed.record_activity("gw", forbidden(grant, 1))
    assert alerts_in(store) == 1
    access.clock.advance(hours=5)  # type: ignore[attr-defined]  # beyond the rule's 4h window
    restarted(watch, store, access, warm=warm).record_activity("gw", forbidden(grant, 1))
    assert alerts_in(store) == (1 if warm else 2)  # once per grant, restart or not


@pytest.mark.parametrize("warm", [True, False])
def test_a_grant_quiet_across_a_restart_is_idle_when_used_again(warm: bool) -> None:
    feed, watch, access, store, _, _ = setup(rule_with_defaults("idle", RuleKind.IDLE_GRANT))  # quiet for 30m
    grant = active_grant(store, access)
    feed.record_activity("gw", forbidden(grant, 1))
    access.clock.advance(minutes=45)  # type: ignore[attr-defined]
    restarted(watch, store, access, warm=warm).record_activity("gw", forbidden(grant, 1))
    # Without the replay the quiet time before the start is not counted; the replay read 30 minutes back and
    # found nothing, so the grant was quiet that long at least.
    assert alerts_in(store) == (1 if warm else 0)
