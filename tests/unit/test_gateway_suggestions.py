"""A gateway refusal that names a profile names one that covers the request, with a ``kubejit request`` command
that the broker accepts: no ``-n`` for a cluster-wide profile, never a profile whose namespaces, rules or
guardrails leave the request refused, never one the person may not request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubejit.adapters.policy_file import load_policy
from kubejit.domain.errors import Refused
from kubejit.domain.grant_book import ActiveGrant, GrantBook
from kubejit.domain.policy import Identity, Profile
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.requestinfo import parse_request
from kubejit.services.gateway_access import GatewayAccess

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DEV = Identity("alice", frozenset({"devs"}))


def _policy(*profiles: str) -> str:
    return """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: unit}
spec:
  defaults: {defaultDuration: 10m, maxDuration: 4h, pendingTimeout: 1h}
  guardrails:
    - name: no-secrets
      deny: [{resources: [secrets], message: no secrets in a JIT session}]
  profiles:
""" + "".join(profiles)


TEAM_PODS = """\
    - name: team-pods
      rules: [{apiGroups: [""], resources: [pods, secrets], verbs: [get, list]}]
      namespaces: ["team-*"]
      requesters: {groups: [devs]}
      approval: {approvers: {groups: [leads]}}
"""
CLUSTER_PODS = """\
    - name: cluster-pods
      scope: cluster
      rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
      requesters: {groups: [devs]}
      approval: {approvers: {groups: [leads]}}
"""
GUARDED_SECRETS = """\
    - name: guarded-secrets
      rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
      namespaces: ["prod"]
      guardrails: [no-secrets]
      requesters: {groups: [devs]}
      approval: {approvers: {groups: [leads]}}
"""
EMERGENCY_ONLY = """\
    - name: emergency
      scope: cluster
      rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
      requesters: {groups: [sre]}
      approval: {approvers: {groups: [leads]}}
      breakGlass: {allowed: {groups: [devs]}}
"""


def rules(profile: Profile) -> tuple[PolicyRule, ...]:
    return profile.role.rules


def refusal(policy_text: str, method: str, path: str) -> str:
    """The message alice gets for ``method path`` under her one grant of team-pods in team-a."""
    policy = load_policy(policy_text)
    book = GrantBook(timedelta(seconds=5))
    book.replace([ActiveGrant("g1", "alice", DEV.groups, "team-pods", ("team-a",), NOW + timedelta(hours=1))], NOW)
    access = GatewayAccess(lambda: policy, rules, book)
    with pytest.raises(Refused) as refused:
        access.authorize(parse_request(method, path), NOW, grant_id="g1", user="alice", groups=DEV.groups)
    return str(refused.value)


def test_a_cluster_wide_profile_is_suggested_without_a_namespace() -> None:
    message = refusal(_policy(TEAM_PODS, CLUSTER_PODS), "GET", "/api/v1/namespaces/prod/pods")
    assert "request it with `kubejit request cluster-pods --reason ...`" in message
    assert "-n prod" not in message  # `kubejit request cluster-pods -n prod` is refused: it is cluster-wide
    assert "team-pods" not in message.split(";", 1)[1]  # team-* does not cover prod


def test_a_namespaced_profile_is_suggested_with_the_namespace() -> None:
    message = refusal(_policy(TEAM_PODS, CLUSTER_PODS), "GET", "/api/v1/namespaces/team-b/pods")
    assert "request it with `kubejit request team-pods -n team-b --reason ...` (or cluster-pods)" in message


def test_a_profile_whose_guardrail_refuses_the_request_is_not_suggested() -> None:
    message = refusal(_policy(TEAM_PODS, GUARDED_SECRETS), "GET", "/api/v1/namespaces/prod/secrets/db")
    assert "guarded-secrets" not in message
    assert "no profile you may request covers this request" in message


def test_a_break_glass_only_profile_and_a_cluster_request_of_namespaced_profiles_are_not_suggested() -> None:
    message = refusal(_policy(TEAM_PODS, EMERGENCY_ONLY), "GET", "/api/v1/nodes")
    assert "emergency" not in message
    assert "no profile you may request covers this request" in message
    across = refusal(_policy(TEAM_PODS, CLUSTER_PODS), "GET", "/api/v1/pods")  # every namespace: cluster-wide only
    assert "request it with `kubejit request cluster-pods --reason ...`" in across
    assert "(or team-pods)" not in across


def test_a_grant_whose_profile_does_not_reach_the_namespace_does_not_tell_to_request_that_profile_for_it() -> None:
    # team-pods allows team-* only: `kubejit request team-pods -n prod` would be refused by the broker.
    message = refusal(_policy(TEAM_PODS, CLUSTER_PODS), "GET", "/api/v1/namespaces/prod/pods")
    first = message.split(";", 1)[0]
    assert "request team-pods" not in first, message
    assert first == "grant g1 (team-pods) does not cover namespace prod: team-pods does not reach prod (team-*)"


def test_a_grant_whose_profile_reaches_the_namespace_tells_to_request_that_profile_for_it() -> None:
    message = refusal(_policy(TEAM_PODS), "GET", "/api/v1/namespaces/team-b/pods")
    assert message.startswith("grant g1 (team-pods) does not cover namespace team-b: request team-pods for it;")
