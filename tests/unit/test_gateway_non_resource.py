"""Paths outside the API (issue 10, item 9): a namespaced grant reaches discovery only; a cluster-wide grant reaches
what its rules name. Kubernetes itself grants non-resource URLs only through ClusterRoleBindings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubejit.adapters.policy_file import load_policy
from kubejit.domain.errors import Refused
from kubejit.domain.grant_book import ActiveGrant, GrantBook
from kubejit.domain.policy import Profile
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.requestinfo import parse_request
from kubejit.services.gateway_access import GatewayAccess

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = load_policy("""\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: unit}
spec:
  defaults: {defaultDuration: 10m, maxDuration: 4h, pendingTimeout: 1h}
  profiles:
    - name: ns-metrics
      rules:
        - {apiGroups: [""], resources: [pods], verbs: [get, list]}
        - {nonResourceURLs: ["/metrics", "/logs", "/logs/*", "/debug/*"], verbs: [get]}
      namespaces: ["team-*"]
      requesters: {groups: [devs]}
      approval: {approvers: {groups: [leads]}}
    - name: cluster-metrics
      scope: cluster
      rules: [{nonResourceURLs: ["/metrics"], verbs: [get]}]
      requesters: {groups: [devs]}
      approval: {approvers: {groups: [leads]}}
""")


def rules(profile: Profile) -> tuple[PolicyRule, ...]:
    return profile.role.rules


def access_with(profile: str, namespaces: tuple[str, ...] = ("team-a",)) -> GatewayAccess:
    book = GrantBook(timedelta(seconds=5))
    book.replace([ActiveGrant("g1", "alice", frozenset({"devs"}), profile, namespaces, NOW + timedelta(hours=1))], NOW)
    return GatewayAccess(lambda: POLICY, rules, book)


@pytest.mark.parametrize("path", ["/api", "/api/v1", "/apis", "/apis/apps/v1", "/version", "/openapi/v3"])
def test_a_namespaced_grant_reaches_discovery(path: str) -> None:
    allowed = access_with("ns-metrics").authorize(parse_request("GET", path), NOW, grant_id="g1", user="alice")
    assert allowed.grant.id == "g1"


@pytest.mark.parametrize("path", ["/metrics", "/logs", "/logs/kube-apiserver.log", "/debug/pprof/heap"])
def test_a_namespaced_grant_never_reaches_other_paths_even_if_its_rules_name_them(path: str) -> None:
    with pytest.raises(Refused, match="is namespaced: among paths outside the API it reaches only discovery"):
        access_with("ns-metrics").authorize(parse_request("GET", path), NOW, grant_id="g1", user="alice")


def test_a_cluster_wide_grant_reaches_the_paths_its_rules_name_and_no_others() -> None:
    access = access_with("cluster-metrics", ())
    assert access.authorize(parse_request("GET", "/metrics"), NOW, grant_id="g1", user="alice").grant.id == "g1"
    with pytest.raises(Refused, match="does not cover GET /logs"):
        access.authorize(parse_request("GET", "/logs"), NOW, grant_id="g1", user="alice")


def test_a_namespaced_profile_is_not_suggested_for_a_path_outside_the_api() -> None:
    with pytest.raises(Refused) as refused:
        access_with("ns-metrics").authorize(parse_request("GET", "/debug/pprof/heap"), NOW, grant_id="g1", user="alice")
    assert "kubejit request ns-metrics" not in str(refused.value)


def test_holds_grant_is_true_only_for_the_callers_own_active_grant() -> None:
    access = access_with("ns-metrics")
    assert access.holds_grant("g1", "alice")
    assert access.holds_grant(None, "alice")  # an ID token: any of her grants
    assert not access.holds_grant("g1", "mallory")  # someone else's grant id
    assert not access.holds_grant("g2", "alice")
    assert not access.holds_grant(None, "bob")
