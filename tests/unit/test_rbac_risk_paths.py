"""The escalation paths added after the security review (namespace-write, node-write, apiservice-write, crd-write,
network-redirect, and admission policies under webhook-config): what each says, and that the built-in roles and the
demo policy are judged as before. The hit/miss/narrowing/cluster-wide cases are rows of the table in
test_rbac_risk.py, which must cover every id."""

from __future__ import annotations

from importlib import resources

import pytest

from kubejit.adapters.policy_file import load_policy
from kubejit.domain.policy import assess_profile
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.rbac_risk import RiskId, Severity, analyze
from tests.unit.test_rbac_risk import ADMISSION, EDIT_RULES, VIEW_RULES, rule

NEW_IDS = {
    RiskId.NAMESPACE_WRITE,
    RiskId.NODE_WRITE,
    RiskId.APISERVICE_WRITE,
    RiskId.CRD_WRITE,
    RiskId.NETWORK_REDIRECT,
}


@pytest.mark.parametrize(
    ("risk_id", "granted", "phrase"),
    [
        (RiskId.NAMESPACE_WRITE, rule("patch", "", "namespaces"), "pod-security.kubernetes.io/enforce"),
        (RiskId.NODE_WRITE, rule("patch", "", "nodes/status"), "labels, taints and status"),
        (RiskId.APISERVICE_WRITE, rule("create", "apiregistration.k8s.io", "apiservices"), "API group"),
        (RiskId.CRD_WRITE, rule("patch", "apiextensions.k8s.io", "customresourcedefinitions"), "conversion webhook"),
        (RiskId.NETWORK_REDIRECT, rule("patch", "", "services"), "CVE-2020-8554"),
    ],
)
def test_each_new_path_names_its_escalation(risk_id: RiskId, granted: PolicyRule, phrase: str) -> None:
    (finding,) = [f for f in analyze([granted]) if f.id is risk_id]
    assert phrase in finding.why


def test_admission_policies_are_webhook_config_with_their_own_sentence() -> None:
    (policy,) = analyze([rule("patch", ADMISSION, "validatingadmissionpolicybindings")])
    (webhook,) = analyze([rule("patch", ADMISSION, "validatingwebhookconfigurations")])
    assert (policy.id, policy.severity) == (webhook.id, webhook.severity) == (RiskId.WEBHOOK_CONFIG, Severity.CRITICAL)
    assert "admission policies (CEL)" in policy.why
    assert "webhooks" in webhook.why
    (both,) = analyze([rule("delete", ADMISSION, ["validatingadmissionpolicies", "mutatingwebhookconfigurations"])])
    assert "webhooks and policies" in both.why  # the webhook sentence covers both


def test_the_edit_role_gains_only_a_medium_network_finding() -> None:
    """edit grants services writes (and endpoints on older clusters): reported, not refused for it."""
    found = {f.id: f for f in analyze([*EDIT_RULES, rule(["create", "patch"], "", "endpoints")])}
    assert found[RiskId.NETWORK_REDIRECT].severity is Severity.MEDIUM
    assert not found[RiskId.NETWORK_REDIRECT].blocking
    assert not (NEW_IDS - {RiskId.NETWORK_REDIRECT}) & set(found)
    wide = {f.id: f.severity for f in analyze(EDIT_RULES, cluster_wide=True)}
    assert wide[RiskId.NETWORK_REDIRECT] is Severity.MEDIUM


def test_the_view_role_stays_clean() -> None:
    assert not NEW_IDS & {f.id for f in analyze(VIEW_RULES, cluster_wide=True)}


def test_the_demo_policy_profiles_meet_none_of_the_new_paths() -> None:
    text = resources.files("kubejit.examples").joinpath("demo-policy.yaml").read_text()
    policy = load_policy(text, "demo-policy.yaml")
    for profile in policy.profiles:
        if profile.role.rules:
            findings = analyze(profile.role.rules)
            assert not NEW_IDS & {f.id for f in findings}, profile.name
            assert not assess_profile(profile, findings).refused, profile.name
