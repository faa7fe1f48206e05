"""Least privilege from use, on plain values: which uses a profile's rules cover, the smaller rule set they need
(never more than the profile granted), what would be removed, attribution of direct use to grants, and the
policy core's checks on a proposal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubejit.domain.errors import InvalidInput
from kubejit.domain.policy import Scope
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.rightsize import (
    DirectEvent,
    GrantWindow,
    ProfileFacts,
    Source,
    Use,
    attribute_direct,
    parse_window,
    proposal_problems,
    rightsize,
    risks_no_longer_needed,
    rule_as_written,
    rule_from_written,
)

OPS = (
    PolicyRule(("get", "list", "watch", "create", "delete", "patch"), ("",), ("pods", "pods/log", "configmaps")),
    PolicyRule(("create", "get"), ("",), ("pods/exec", "pods/portforward")),
    PolicyRule(("get", "list"), ("apps",), ("deployments",)),
)
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_the_proposal_keeps_exactly_the_used_triples_grouped_into_rules() -> None:
    uses = [Use("list", "", "pods"), Use("get", "", "pods", "app"), Use("get", "", "pods", "web"),
            Use("list", "", "configmaps"), Use("get", "", "pods/log", "app")]  # fmt: skip
    result = rightsize(OPS, uses)
    assert result.proposal == (
        PolicyRule(("list",), ("",), ("configmaps", "pods")),
        PolicyRule(("get",), ("",), ("pods",), resource_names=("app", "web")),
        PolicyRule(("get",), ("",), ("pods/log",), resource_names=("app",)),
    )
    assert [str(a) for a in result.used] == ["list configmaps", "get pods", "list pods", "get pods/log"]


def test_what_would_be_removed_is_named_per_rule() -> None:
    result = rightsize(OPS, [Use("get", "", "pods", "app"), Use("list", "", "pods")])
    first, exec_rule, apps = result.trims
    assert first.unused_verbs == ("watch", "create", "delete", "patch")
    assert first.unused_resources == ("pods/log", "configmaps")
    assert exec_rule.removed
    assert apps.removed
    assert not result.unchanged


def test_no_use_is_no_proposal_not_an_empty_rule_set() -> None:
    result = rightsize(OPS, [])
    assert result.proposal is None
    assert result.trims == ()
    only_discovery = rightsize(OPS, [Use("get", path="/api"), Use("get", path="/apis")])
    assert only_discovery.proposal is None
    assert only_discovery.not_granted == ()


def test_uses_the_profile_does_not_grant_are_reported_and_never_proposed() -> None:
    result = rightsize(OPS, [Use("list", "", "secrets"), Use("list", "", "pods")])
    assert [str(a) for a in result.not_granted] == ["list secrets"]
    assert result.proposal == (PolicyRule(("list",), ("",), ("pods",)),)


def test_wildcards_are_narrowed_to_what_was_used() -> None:
    admin = (PolicyRule(("*",), ("*",), ("*",)),)
    result = rightsize(admin, [Use("list", "apps", "deployments"), Use("patch", "apps", "deployments/scale", "web")])
    assert result.proposal == (
        PolicyRule(("list",), ("apps",), ("deployments",)),
        PolicyRule(("patch",), ("apps",), ("deployments/scale",), resource_names=("web",)),
    )


def test_many_names_are_dropped_but_never_when_the_granting_rule_was_named() -> None:
    many = [Use("get", "", "configmaps", f"c{n}") for n in range(5)]
    assert rightsize(OPS, many).proposal == (PolicyRule(("get",), ("",), ("configmaps",)),)
    named = (PolicyRule(("get",), ("",), ("configmaps",), resource_names=tuple(f"c{n}" for n in range(6))),)
    proposed = rightsize(named, many).proposal
    assert proposed == (PolicyRule(("get",), ("",), ("configmaps",), resource_names=tuple(f"c{n}" for n in range(5))),)


def test_a_websocket_exec_keeps_both_verbs_kube_apiserver_checks() -> None:
    proposed = rightsize(OPS, [Use("get", "", "pods/exec", "app")]).proposal
    assert proposed == (PolicyRule(("create", "get"), ("",), ("pods/exec",), resource_names=("app",)),)
    spdy = rightsize(OPS, [Use("create", "", "pods/exec", "app")]).proposal
    assert spdy == (PolicyRule(("create",), ("",), ("pods/exec",), resource_names=("app",)),)


def test_non_resource_rules_keep_the_paths_used() -> None:
    metrics = (PolicyRule(("get",), non_resource_urls=("/metrics", "/debug/*")),)
    result = rightsize(metrics, [Use("get", path="/metrics"), Use("get", path="/api")])
    assert result.proposal == (PolicyRule(("get",), non_resource_urls=("/metrics",)),)
    assert result.trims[0].unused_resources == ("/debug/*",)


def test_every_source_counts_and_says_where_it_was_seen() -> None:
    uses = [Use("list", "", "pods"), Use("list", "", "pods", source=Source.APISERVER)]
    (used,) = rightsize(OPS, uses).used
    assert used.count == 2
    assert used.sources == ("gateway", "kube-apiserver")


def test_direct_events_are_attributed_by_cluster_user_window_and_namespace() -> None:
    grant = GrantWindow("req-1", "oidc:alice", T0, T0 + timedelta(hours=1), ("t-1",))
    use = Use("list", "", "pods", source=Source.APISERVER)
    events = [
        DirectEvent("oidc:alice", T0 + timedelta(minutes=5), "t-1", use),
        DirectEvent("oidc:alice", T0 + timedelta(hours=2), "t-1", use),  # after the grant ended
        DirectEvent("oidc:alice", T0 + timedelta(minutes=5), "t-2", use),  # outside the grant's namespaces
        DirectEvent("alice", T0 + timedelta(minutes=5), "t-1", use),  # not the cluster user the grant bound
    ]
    assert attribute_direct(events, [grant]) == [("req-1", use)]
    cluster_wide = GrantWindow("req-2", "oidc:alice", T0, T0 + timedelta(hours=1))
    assert len(attribute_direct(events[2:3], [cluster_wide])) == 1


@pytest.mark.parametrize(("text", "expected"), [("30d", timedelta(days=30)), ("7d12h", timedelta(days=7, hours=12)),
                                                ("90m", timedelta(minutes=90))])  # fmt: skip
def test_windows_are_written_in_days_or_go_durations(text: str, expected: timedelta) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["30x", "", "0d", "400d", "d", "30 days"])
def test_a_bad_window_says_how_to_write_one(text: str) -> None:
    with pytest.raises(InvalidInput, match="30d"):
        parse_window(text)


FACTS = ProfileFacts("ops", Scope.NAMESPACED, ("t-*",), (("pods-exec", "debugging"),), False, False)


def test_a_proposal_passes_the_policy_core_and_says_which_accepted_risks_it_no_longer_needs() -> None:
    proposal = (PolicyRule(("list",), ("",), ("pods",)),)
    assert proposal_problems(FACTS, proposal) == ()
    assert risks_no_longer_needed(FACTS, proposal) == ("pods-exec",)
    with_exec = (PolicyRule(("create",), ("",), ("pods/exec",)),)
    assert proposal_problems(FACTS, with_exec) == ()
    assert risks_no_longer_needed(FACTS, with_exec) == ()


def test_a_proposal_the_policy_core_refuses_is_reported() -> None:
    """The check that can fail: an exec rule without its accepted risk, or a namespaced profile with none."""
    with_exec = (PolicyRule(("create",), ("",), ("pods/exec",)),)
    unaccepted = ProfileFacts("ops", Scope.NAMESPACED, ("t-*",), (), False, False)
    assert any("pods-exec" in p for p in proposal_problems(unaccepted, with_exec))
    nowhere = ProfileFacts("ops", Scope.NAMESPACED, (), (), False, False)
    assert any("namespace" in p for p in proposal_problems(nowhere, (PolicyRule(("list",), ("",), ("pods",)),)))


def test_rules_round_trip_through_their_written_form() -> None:
    for rule in (*OPS, PolicyRule(("get",), non_resource_urls=("/metrics",)),
                 PolicyRule(("get",), ("",), ("pods",), resource_names=("app",))):  # fmt: skip
        assert rule_from_written(rule_as_written(rule)) == rule
    assert list(rule_as_written(OPS[0])) == ["apiGroups", "resources", "verbs"]
