"""The gateway's decision for one request: which grant covers it, and what a refusal tells the person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubejit.adapters.policy_file import load_policy
from kubejit.domain.errors import Refused, Unauthenticated, Unavailable
from kubejit.domain.grant_book import ActiveGrant, GrantBook
from kubejit.domain.guardrails import Effect
from kubejit.domain.policy import Profile
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.requestinfo import RequestAttributes, parse_request
from kubejit.services.gateway_access import GatewayAccess, GuardrailRefusal

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = load_policy("""\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: unit}
spec:
  defaults: {defaultDuration: 10m, maxDuration: 4h, pendingTimeout: 1h}
  profiles:
    - name: ops
      rules: [{apiGroups: [""], resources: [pods, configmaps, pods/exec], verbs: [get, list, create, delete]}]
      namespaces: ["team-*"]
      requesters: {groups: [devs]}
      approval: {approvers: {groups: [leads]}}
      allowRisks:
        - {id: pods-exec, justification: unit}
        - {id: pods-create, justification: unit}
      guardrails: [careful]
    - name: secrets-read
      rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list]}]
      namespaces: ["team-*"]
      requesters: {groups: [oncall]}
      approval: {approvers: {groups: [leads]}}
      allowRisks: [{id: secrets-read, justification: unit}]
    - name: secrets-read-prod
      rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
      namespaces: ["prod-*"]
      requesters: {groups: [oncall]}
      approval: {approvers: {groups: [leads]}}
      allowRisks: [{id: secrets-read, justification: unit}]
  guardrails:
    - name: careful
      deny: [{verbs: [delete], resources: [configmaps], names: ["keep-*"], message: keep-* stays}]
""")


def rules(profile: Profile) -> tuple[PolicyRule, ...]:
    return profile.role.rules


def access(*grants: ActiveGrant, heard: datetime = NOW) -> GatewayAccess:
    book = GrantBook(timedelta(seconds=5))
    book.replace(list(grants), heard)
    return GatewayAccess(lambda: POLICY, rules, book)


def grant(grant_id: str = "g1", user: str = "alice", groups: frozenset[str] = frozenset({"devs"})) -> ActiveGrant:
    return ActiveGrant(grant_id, user, groups, "ops", ("team-a",), NOW + timedelta(minutes=10))


def get(path: str, method: str = "GET", query: str = "", upgrade: bool = False) -> RequestAttributes:
    return parse_request(method, path, query, upgrade=upgrade)


def test_a_covered_request_is_allowed_as_the_grants_user() -> None:
    allowed = access(grant()).authorize(get("/api/v1/namespaces/team-a/pods"), NOW, grant_id="g1", user="alice")
    assert allowed.grant.id == "g1"
    assert allowed.decision.effect is Effect.ALLOW
    assert allowed.cluster_user == "alice"


def test_a_websocket_exec_is_checked_as_create() -> None:
    attrs = get("/api/v1/namespaces/team-a/pods/app/exec", query="command=ls", upgrade=True)
    assert access(grant()).authorize(attrs, NOW, grant_id="g1", user="alice").grant.id == "g1"


@pytest.mark.parametrize(
    ("path", "method", "problem"),
    [
        ("/api/v1/namespaces/team-b/pods", "GET", "does not cover namespace team-b"),
        ("/api/v1/namespaces/team-a/secrets", "GET", "does not allow list on secrets"),
        ("/api/v1/namespaces/team-a/pods/app", "PATCH", "does not allow patch on pods"),
        ("/api/v1/pods", "GET", "covers namespaces team-a only"),
    ],
)
def test_a_request_outside_the_grant_says_why(path: str, method: str, problem: str) -> None:
    with pytest.raises(Refused, match=problem):
        access(grant()).authorize(get(path, method), NOW, grant_id="g1", user="alice")


def test_a_refusal_names_the_profiles_the_person_may_request() -> None:
    oncall = grant(user="carol", groups=frozenset({"devs", "oncall"}))
    with pytest.raises(Refused) as refused:
        access(oncall).authorize(
            get("/api/v1/namespaces/team-a/secrets"), NOW, grant_id="g1", user="carol", groups=oncall.groups
        )
    assert "request it with `kubejit request secrets-read -n team-a --reason ...`" in str(refused.value)
    assert "secrets-read-prod" not in str(refused.value)  # it covers prod-* only, and not list


def test_profiles_the_person_may_not_request_are_not_suggested() -> None:
    with pytest.raises(Refused) as refused:
        access(grant()).authorize(
            get("/api/v1/namespaces/team-a/secrets"), NOW, grant_id="g1", user="alice", groups=frozenset({"devs"})
        )
    assert "no profile you may request covers this request" in str(refused.value)


def test_someone_without_a_grant_is_told_what_to_request() -> None:
    with pytest.raises(Refused) as refused:
        access().authorize(
            get("/api/v1/namespaces/team-a/pods"), NOW, grant_id=None, user="dan", groups=frozenset({"devs"})
        )
    assert str(refused.value) == (
        "dan has no active grant; request it with `kubejit request ops -n team-a --reason ...`"
    )


def test_a_guardrail_refusal_suggests_nothing_else() -> None:
    attrs = get("/api/v1/namespaces/team-a/configmaps/keep-me", "DELETE")
    with pytest.raises(GuardrailRefusal) as refused:
        access(grant()).authorize(attrs, NOW, grant_id="g1", user="alice")
    assert str(refused.value) == "refused by guardrail careful.deny[0]: keep-* stays"


def test_tokens_of_unknown_or_foreign_grants_and_a_stale_book_are_refused() -> None:
    attrs = get("/api/v1/namespaces/team-a/pods")
    with pytest.raises(Unauthenticated, match="not active"):
        access(grant()).authorize(attrs, NOW, grant_id="g2", user="alice")
    with pytest.raises(Unauthenticated, match="another user's grant"):
        access(grant()).authorize(attrs, NOW, grant_id="g1", user="bob")
    with pytest.raises(Unavailable):
        access(grant(), heard=NOW - timedelta(seconds=6)).authorize(attrs, NOW, grant_id="g1", user="alice")


def test_a_grant_past_its_end_covers_nothing() -> None:
    with pytest.raises(Refused, match="ended at"):
        access(grant(), heard=NOW + timedelta(minutes=11)).authorize(
            get("/api/v1/namespaces/team-a/pods"), NOW + timedelta(minutes=11), grant_id="g1", user="alice"
        )
