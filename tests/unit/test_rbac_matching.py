"""RBAC rule matching follows kube-apiserver exactly (the gateway's grant check relies on it)."""

from __future__ import annotations

import pytest

from kubejit.domain.rbac import PolicyRule, rule_allows_non_resource, rule_allows_resource


@pytest.mark.parametrize(
    ("rule", "request_", "allowed"),
    [
        (PolicyRule(("get",), ("",), ("pods",)), ("get", "", "pods", "", "p"), True),
        (PolicyRule(("get",), ("",), ("pods",)), ("get", "", "pods", "log", "p"), False),
        (PolicyRule(("get",), ("",), ("pods/log",)), ("get", "", "pods", "log", "p"), True),
        (PolicyRule(("get",), ("",), ("*/scale",)), ("get", "apps", "deployments", "scale", "d"), False),
        (PolicyRule(("get",), ("*",), ("*/scale",)), ("get", "apps", "deployments", "scale", "d"), True),
        (PolicyRule(("get",), ("",), ("pods/*",)), ("get", "", "pods", "exec", "p"), False),  # not RBAC syntax
        (PolicyRule(("*",), ("*",), ("*",)), ("delete", "rbac.authorization.k8s.io", "roles", "", "r"), True),
        (PolicyRule(("get",), ("apps",), ("secrets",)), ("get", "", "secrets", "", "s"), False),
        (PolicyRule(("get",), ("",), ("secrets",), ("a",)), ("get", "", "secrets", "", "a"), True),
        (PolicyRule(("get",), ("",), ("secrets",), ("a",)), ("get", "", "secrets", "", "b"), False),
        (PolicyRule(("list",), ("",), ("secrets",), ("a",)), ("list", "", "secrets", "", ""), False),
    ],
)
def test_resource_rules(rule: PolicyRule, request_: tuple[str, str, str, str, str], allowed: bool) -> None:
    assert rule_allows_resource(rule, *request_) is allowed


def test_conservative_matching_reads_resource_star_as_every_subresource() -> None:
    rule = PolicyRule(("get",), ("",), ("pods/*",))
    assert rule_allows_resource(rule, "get", "", "pods", "exec", "p", conservative=True)
    assert not rule_allows_resource(rule, "get", "", "pods", "", "p", conservative=True)


def test_non_resource_urls() -> None:
    rule = PolicyRule(("get",), non_resource_urls=("/healthz", "/debug/*"))
    assert rule_allows_non_resource(rule, "get", "/healthz")
    assert rule_allows_non_resource(rule, "get", "/debug/pprof/heap")
    assert not rule_allows_non_resource(rule, "get", "/metrics")
    assert not rule_allows_non_resource(rule, "post", "/healthz")
    assert not rule_allows_resource(rule, "get", "", "pods")
    assert str(rule) == "verbs=[get] nonResourceURLs=[/healthz, /debug/*]"
