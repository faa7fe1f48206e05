"""Static RBAC risk analysis: one case per finding id, what must not be flagged, and properties that keep
the analysis monotone (allowRisks entries stay valid when a profile grows) and deterministic."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubejit.domain.errors import InvalidInput
from kubejit.domain.rbac import PolicyRule, rule_allows_resource
from kubejit.domain.rbac_risk import Finding, RiskId, Severity, analyze
from kubejit.domain.rbac_risk._matching import grants as _grants
from kubejit.domain.rbac_risk._registry import RISKS as _CHECKS

RISK_IDS = frozenset(RiskId)

CRITICAL, HIGH, MEDIUM = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM
RBAC = "rbac.authorization.k8s.io"
CERTS = "certificates.k8s.io"
ADMISSION = "admissionregistration.k8s.io"
AUTHN = "authentication.k8s.io"
APIREG = "apiregistration.k8s.io"
APIEXT = "apiextensions.k8s.io"
CRDS = "customresourcedefinitions"

READ = ("get", "list", "watch")
WRITE = ("create", "delete", "deletecollection", "patch", "update")


def rule(
    verbs: str | Sequence[str], groups: str | Sequence[str], resources: str | Sequence[str], names: Sequence[str] = ()
) -> PolicyRule:
    """A resource rule; a single string stands for a one-element list."""

    def many(value: str | Sequence[str]) -> tuple[str, ...]:
        return (value,) if isinstance(value, str) else tuple(value)

    return PolicyRule(
        verbs=many(verbs), api_groups=many(groups), resources=many(resources), resource_names=tuple(names)
    )


def urls(verbs: str | Sequence[str], *paths: str) -> PolicyRule:
    return PolicyRule(verbs=(verbs,) if isinstance(verbs, str) else tuple(verbs), non_resource_urls=paths)


def severities(findings: Sequence[Finding], index: int = 0) -> dict[str, Severity]:
    return {f.id: f.severity for f in findings if f.rule_index == index}


# --- one table: (expected id, expected severity, rules, cluster_wide) --------------------------------------

APPROVAL = rule("update", CERTS, "certificatesigningrequests/approval")
ALL_SIGNERS = rule("approve", CERTS, "signers")
CLIENT_SIGNER = rule("approve", CERTS, "signers", names=["kubernetes.io/kube-apiserver-client"])
CUSTOM_SIGNER = rule("approve", CERTS, "signers", names=["example.com/team-signer"])

POSITIVE: list[tuple[str, Severity, list[PolicyRule], bool]] = [
    ("cluster-admin", CRITICAL, [rule("*", "*", "*")], False),
    ("wildcard-verbs", MEDIUM, [rule("*", "", "configmaps")], False),
    ("wildcard-verbs", MEDIUM, [urls("*", "/healthz")], False),
    ("wildcard-resources", MEDIUM, [rule("get", "apps", "*")], False),
    ("wildcard-resources", MEDIUM, [rule("get", "", "pods/*")], False),
    ("wildcard-resources", MEDIUM, [rule("update", "apps", "*/scale")], False),
    ("wildcard-resources", CRITICAL, [rule("create", "*", "*")], False),
    ("wildcard-resources", HIGH, [rule("update", "*", "*", names=["x"])], False),
    ("wildcard-resources", MEDIUM, [urls("get", "*")], False),
    ("wildcard-resources", MEDIUM, [urls("get", "/debug/*")], False),
    ("wildcard-resources", MEDIUM, [urls("get", "/metrics*")], False),
    ("wildcard-apigroups", MEDIUM, [rule("get", "*", "deployments")], False),
    ("wildcard-apigroups", CRITICAL, [rule("delete", "*", "*")], False),
    ("escalate", CRITICAL, [rule("escalate", RBAC, "clusterroles")], False),
    ("escalate", CRITICAL, [rule("escalate", RBAC, "roles", names=["app-role"])], False),  # narrowing ignored
    ("escalate", CRITICAL, [rule("*", RBAC, "roles")], False),
    ("bind", CRITICAL, [rule("bind", RBAC, "clusterroles")], False),
    ("bind", CRITICAL, [rule("bind", RBAC, "roles")], False),
    ("bind", HIGH, [rule("bind", RBAC, "clusterroles", names=["view"])], False),
    ("bind", CRITICAL, [rule("bind", RBAC, "clusterroles", names=["view", "cluster-admin"])], False),
    ("bind", CRITICAL, [rule("bind", RBAC, "clusterroles", names=["system:controller:foo"])], False),
    ("impersonate", CRITICAL, [rule("impersonate", "", "users")], False),
    ("impersonate", CRITICAL, [rule("impersonate", "", "groups")], False),
    ("impersonate", HIGH, [rule("impersonate", "", "serviceaccounts")], False),
    ("impersonate", CRITICAL, [rule("impersonate", "", "serviceaccounts")], True),
    ("impersonate", HIGH, [rule("impersonate", AUTHN, "uids")], False),
    ("impersonate", HIGH, [rule("impersonate", AUTHN, "userextras/scopes")], False),
    ("impersonate", HIGH, [rule("impersonate", "", "users", names=["alice"])], False),
    ("impersonate", CRITICAL, [rule("impersonate", "", "groups", names=["system:masters"])], False),
    ("impersonate", MEDIUM, [rule("impersonate", "", "serviceaccounts", names=["builder"])], False),
    ("impersonate", CRITICAL, [rule("*", "", "*")], False),
    ("secrets-read", HIGH, [rule("get", "", "secrets")], False),
    ("secrets-read", HIGH, [rule("list", "", "secrets")], False),
    ("secrets-read", HIGH, [rule("watch", "", "secrets")], False),
    ("secrets-read", HIGH, [rule("get", "*", "secrets")], False),
    ("secrets-read", CRITICAL, [rule("list", "", "secrets")], True),
    ("secrets-read", MEDIUM, [rule("get", "", "secrets", names=["db-password"])], False),
    ("secrets-read", HIGH, [rule("get", "", "secrets", names=["db-password"])], True),
    ("pods-exec", HIGH, [rule("create", "", "pods/exec")], False),
    ("pods-exec", HIGH, [rule("get", "", "pods/exec")], False),  # WebSocket exec is a GET
    ("pods-exec", HIGH, [rule("get", "", "pods/*")], False),
    ("pods-exec", HIGH, [rule("create", "", "*/exec")], False),
    ("pods-exec", HIGH, [rule("get", "", "*")], False),  # read-only wildcards still grant exec
    ("pods-exec", HIGH, [rule("patch", "", "pods/ephemeralcontainers")], False),
    ("pods-exec", CRITICAL, [rule("create", "", "pods/exec")], True),
    ("pods-exec", MEDIUM, [rule("create", "", "pods/exec", names=["debug-pod"])], False),
    ("pods-attach", HIGH, [rule("create", "", "pods/attach")], False),
    ("pods-attach", HIGH, [rule("get", "", "pods/attach")], False),
    ("pods-attach", HIGH, [rule("get", "", "pods/attach")], True),
    ("pods-portforward", MEDIUM, [rule("create", "", "pods/portforward")], False),
    ("pods-portforward", MEDIUM, [rule("get", "", "pods/portforward")], False),
    ("pods-portforward", MEDIUM, [rule("get", "", "pods/proxy")], False),
    ("pods-portforward", MEDIUM, [rule("create", "", "services/proxy")], False),
    ("pods-create", HIGH, [rule("create", "", "pods")], False),
    ("pods-create", HIGH, [rule("patch", "", "pods")], False),
    ("pods-create", CRITICAL, [rule("create", "", "pods")], True),
    ("pods-create", MEDIUM, [rule(["create", "update"], "", "pods", names=["web-0"])], False),
    ("workloads-create", HIGH, [rule("create", "apps", "deployments")], False),
    ("workloads-create", HIGH, [rule("create", "apps", "replicasets")], False),
    ("workloads-create", HIGH, [rule("create", "apps", "statefulsets")], False),
    ("workloads-create", HIGH, [rule("create", "apps", "daemonsets")], False),
    ("workloads-create", HIGH, [rule("create", "batch", "jobs")], False),
    ("workloads-create", HIGH, [rule("patch", "batch", "cronjobs")], False),
    ("workloads-create", HIGH, [rule("update", "", "replicationcontrollers")], False),
    ("workloads-create", HIGH, [rule("create", "extensions", "deployments")], False),
    ("workloads-create", CRITICAL, [rule("create", "apps", "daemonsets")], True),
    ("workloads-create", MEDIUM, [rule("patch", "apps", "deployments", names=["web"])], False),
    ("nodes-proxy", CRITICAL, [rule("get", "", "nodes/proxy")], False),
    ("nodes-proxy", CRITICAL, [rule("create", "", "nodes/*")], False),
    ("nodes-proxy", CRITICAL, [rule("get", "", "*/proxy")], False),
    ("nodes-proxy", CRITICAL, [rule("proxy", "", "nodes")], False),
    ("nodes-proxy", HIGH, [rule("get", "", "nodes/proxy", names=["worker-1"])], False),
    ("serviceaccount-token", HIGH, [rule("create", "", "serviceaccounts/token")], False),
    ("serviceaccount-token", CRITICAL, [rule("create", "", "serviceaccounts/token")], True),
    ("serviceaccount-token", MEDIUM, [rule("create", "", "serviceaccounts/token", names=["ci"])], False),
    ("csr-approve", CRITICAL, [APPROVAL, ALL_SIGNERS], False),
    ("csr-approve", CRITICAL, [APPROVAL, CLIENT_SIGNER], False),
    ("csr-approve", HIGH, [APPROVAL], False),  # the signer half may come from another binding
    ("csr-approve", HIGH, [ALL_SIGNERS], False),
    ("csr-approve", MEDIUM, [CUSTOM_SIGNER], False),
    ("csr-approve", HIGH, [APPROVAL, CUSTOM_SIGNER], False),
    (
        "csr-approve",
        CRITICAL,
        [rule(["update", "approve"], CERTS, ["certificatesigningrequests/approval", "signers"])],
        False,
    ),
    ("webhook-config", CRITICAL, [rule("create", ADMISSION, "mutatingwebhookconfigurations")], False),
    ("webhook-config", CRITICAL, [rule("delete", ADMISSION, "validatingwebhookconfigurations")], False),
    ("webhook-config", CRITICAL, [rule("patch", ADMISSION, "validatingadmissionpolicybindings")], False),
    ("webhook-config", HIGH, [rule("update", ADMISSION, "mutatingwebhookconfigurations", names=["kyverno"])], False),
    ("rbac-write", HIGH, [rule("create", RBAC, "rolebindings")], False),
    ("rbac-write", HIGH, [rule("patch", RBAC, "roles")], False),
    ("rbac-write", CRITICAL, [rule("create", RBAC, "rolebindings")], True),
    ("rbac-write", CRITICAL, [rule("create", RBAC, "clusterrolebindings")], False),
    ("rbac-write", CRITICAL, [rule("delete", RBAC, "clusterroles")], False),
    ("rbac-write", MEDIUM, [rule("update", RBAC, "roles", names=["app"])], False),
    ("persistentvolume-create", HIGH, [rule("create", "", "persistentvolumes")], False),
    ("persistentvolume-create", HIGH, [rule("create", "*", "*")], False),
    ("webhook-config", CRITICAL, [rule("create", ADMISSION, "mutatingadmissionpolicies")], False),
    ("webhook-config", CRITICAL, [rule("create", ADMISSION, "mutatingadmissionpolicybindings")], False),
    ("webhook-config", CRITICAL, [rule("delete", ADMISSION, "validatingadmissionpolicies")], False),
    ("webhook-config", CRITICAL, [rule("update", ADMISSION, "*")], False),
    ("webhook-config", HIGH, [rule("patch", ADMISSION, "validatingadmissionpolicies", names=["no-privileged"])], False),
    ("namespace-write", HIGH, [rule("patch", "", "namespaces")], False),
    ("namespace-write", HIGH, [rule("update", "", "namespaces")], False),
    ("namespace-write", HIGH, [rule("update", "", "namespaces")], True),  # cluster-scoped: no raise
    ("namespace-write", HIGH, [rule("patch", "*", "*")], False),
    ("namespace-write", MEDIUM, [rule("patch", "", "namespaces", names=["payments"])], False),
    ("node-write", HIGH, [rule("patch", "", "nodes")], False),
    ("node-write", HIGH, [rule("update", "", "nodes/status")], False),
    ("node-write", HIGH, [rule("patch", "", "nodes/*")], False),
    ("node-write", HIGH, [rule("update", "", "nodes")], True),
    ("node-write", MEDIUM, [rule("patch", "", "nodes", names=["worker-1"])], False),
    ("apiservice-write", CRITICAL, [rule("create", APIREG, "apiservices")], False),
    ("apiservice-write", CRITICAL, [rule("patch", APIREG, "apiservices")], False),
    ("apiservice-write", CRITICAL, [rule("delete", APIREG, "apiservices")], True),
    ("apiservice-write", HIGH, [rule("update", APIREG, "apiservices", names=["v1beta1.metrics.k8s.io"])], False),
    ("crd-write", CRITICAL, [rule("create", APIEXT, CRDS)], False),
    ("crd-write", CRITICAL, [rule("update", APIEXT, CRDS)], False),
    ("crd-write", CRITICAL, [rule("patch", APIEXT, CRDS)], False),
    ("crd-write", CRITICAL, [rule("delete", APIEXT, CRDS)], False),
    ("crd-write", CRITICAL, [rule("deletecollection", APIEXT, CRDS)], True),
    ("crd-write", HIGH, [rule("patch", APIEXT, CRDS, names=["x.example.com"])], False),
    ("network-redirect", MEDIUM, [rule("create", "", "services")], False),
    ("network-redirect", MEDIUM, [rule("patch", "", "services")], False),
    ("network-redirect", MEDIUM, [rule("update", "", "services/status")], False),
    ("network-redirect", MEDIUM, [rule("update", "", "endpoints")], False),
    ("network-redirect", MEDIUM, [rule("create", "discovery.k8s.io", "endpointslices")], False),
    ("network-redirect", MEDIUM, [rule("create", "", "endpoints")], True),  # traffic, no identity: no raise
    ("network-redirect", MEDIUM, [rule("patch", "", "services", names=["web"])], False),  # never below medium
    ("network-redirect", MEDIUM, [rule(["update", "patch"], "", "pods/status")], False),  # pod IPs feed endpoints
    ("secrets-write", HIGH, [rule("create", "", "secrets")], False),
    ("secrets-write", HIGH, [rule("update", "", "secrets")], False),
    ("secrets-write", HIGH, [rule("patch", "*", "*")], False),
    ("secrets-write", CRITICAL, [rule("patch", "", "secrets")], True),  # every namespace's ServiceAccounts
    ("secrets-write", MEDIUM, [rule("update", "", "secrets", names=["db"])], False),
]


@pytest.mark.parametrize(
    ("risk_id", "severity", "rules", "cluster_wide"),
    POSITIVE,
    ids=[f"{case[0]}-{case[1]}-{'wide-' if case[3] else ''}{i}" for i, case in enumerate(POSITIVE)],
)
def test_each_risk_is_found_with_its_severity(
    risk_id: str, severity: Severity, rules: list[PolicyRule], cluster_wide: bool
) -> None:
    found = [f for f in analyze(rules, cluster_wide=cluster_wide) if f.id == risk_id]
    assert found, f"{risk_id} not found in {[str(r) for r in rules]}"
    assert max(f.severity.rank for f in found) == severity.rank, [(f.rule_index, f.severity) for f in found]
    for finding in found:
        assert finding.rule is rules[finding.rule_index]


def test_the_table_covers_every_contract_id_and_every_check_has_one() -> None:
    assert {case[0] for case in POSITIVE} == RISK_IDS
    assert [risk.id for risk in _CHECKS] == sorted(RISK_IDS)  # one check per id, run in id order


NEGATIVE: list[tuple[str, list[PolicyRule]]] = [
    ("view-like reads", [rule(READ, ["", "apps", "batch"], ["pods", "deployments", "jobs", "services", "events"])]),
    ("get on pods", [rule("get", "", "pods")]),
    ("list on configmaps", [rule("list", "", "configmaps")]),
    ("pods/log only", [rule(READ, "", "pods/log")]),
    ("secrets in another apiGroup", [rule(READ, "apps", "secrets")]),
    ("secrets spelled differently", [rule(READ, "", "Secrets")]),
    ("exec in another apiGroup", [rule("create", "apps", "pods/exec")]),
    ("list/watch on pods/exec carry no stream", [rule(["list", "watch"], "", "pods/exec")]),
    ("create pods with resourceNames never matches", [rule("create", "", "pods", names=["web-0"])]),
    ("create PVs with resourceNames never matches", [rule("create", "", "persistentvolumes", names=["pv"])]),
    ("PV reads", [rule(READ, "", "persistentvolumes")]),
    ("node reads", [rule(READ, "", ["nodes", "nodes/status"])]),
    ("RBAC reads", [rule(READ, RBAC, ["roles", "rolebindings", "clusterroles", "clusterrolebindings"])]),
    ("escalate and bind on the wrong resources", [rule(["escalate", "bind"], RBAC, "rolebindings")]),
    ("impersonate on pods", [rule("impersonate", "", "pods")]),
    ("workload scale and status", [rule(["update", "patch"], "apps", ["deployments/scale", "deployments/status"])]),
    ("deleting workloads", [rule(["delete", "deletecollection"], "apps", ["deployments", "daemonsets"])]),
    ("token reads", [rule("get", "", "serviceaccounts/token")]),
    ("CSR create and status", [rule(["create", "get"], CERTS, "certificatesigningrequests")]),
    ("webhook reads", [rule(READ, ADMISSION, ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"])]),
    ("admission policy reads", [rule(READ, ADMISSION, ["validatingadmissionpolicies", "mutatingadmissionpolicies"])]),
    ("admission policy status", [rule(["update", "patch"], ADMISSION, "validatingadmissionpolicies/status")]),
    ("namespace reads and deletes", [rule([*READ, "delete"], "", ["namespaces", "namespaces/status"])]),
    ("namespace create carries no name", [rule("create", "", "namespaces", names=["payments"])]),
    ("namespace finalize and status", [rule(["update", "patch"], "", ["namespaces/finalize", "namespaces/status"])]),
    ("namespaces in another apiGroup", [rule(["update", "patch"], "apps", "namespaces")]),
    ("node create and delete", [rule(["create", "delete"], "", "nodes")]),
    ("APIService reads", [rule(READ, "apiregistration.k8s.io", ["apiservices", "apiservices/status"])]),
    ("APIService status", [rule(["update", "patch"], "apiregistration.k8s.io", "apiservices/status")]),
    ("CRD reads and status", [rule([*READ, "patch"], "apiextensions.k8s.io", ["customresourcedefinitions/status"])]),
    ("CRDs in another apiGroup", [rule("create", "example.com", "customresourcedefinitions")]),
    ("service and endpoint reads", [rule(READ, ["", "discovery.k8s.io"], ["services", "endpoints", "endpointslices"])]),
    ("service deletes", [rule(["delete", "deletecollection"], "", ["services", "endpoints"])]),
    ("service create with resourceNames never matches", [rule("create", "", "services", names=["web"])]),
    ("secret deletes", [rule(["delete", "deletecollection"], "", "secrets")]),
    ("secret create with resourceNames never matches", [rule("create", "", "secrets", names=["db"])]),
    ("secrets in another apiGroup, written", [rule(["create", "patch"], "apps", "secrets")]),
    ("endpointslices in the core group", [rule("create", "", "endpointslices")]),
    ("discovery URLs", [urls("get", "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/version", "/openapi/*")]),
    ("exact sensitive URL without wildcard", [urls("get", "/metrics")]),
    ("empty rule list", []),
]


@pytest.mark.parametrize(("_name", "rules"), NEGATIVE, ids=[case[0] for case in NEGATIVE])
def test_harmless_rules_produce_no_finding(_name: str, rules: list[PolicyRule]) -> None:
    assert analyze(rules) == ()
    assert analyze(rules, cluster_wide=True) == ()


# --- wildcards, narrowing, non-resource URLs ---------------------------------------------------------------


def test_full_wildcard_rule_carries_every_resource_risk() -> None:
    found = severities(analyze([rule("*", "*", "*")]))
    assert found["cluster-admin"] is CRITICAL
    assert RISK_IDS - set(found) == set()  # cluster-admin does not hide the risks it implies
    assert all(f is CRITICAL for i, f in found.items() if i in {"escalate", "bind", "impersonate", "nodes-proxy"})


def test_wildcard_verbs_imply_escalate_bind_impersonate_where_the_resource_matches() -> None:
    assert {"escalate", "bind"} <= set(severities(analyze([rule("*", RBAC, ["roles", "clusterroles"])])))
    assert "impersonate" in severities(analyze([rule("*", "", "users")]))
    # ... and only there: every verb on configmaps is hygiene, nothing more.
    assert set(severities(analyze([rule("*", "", "configmaps")]))) == {"wildcard-verbs"}


def test_resource_subresource_wildcard_includes_every_pod_stream() -> None:
    found = severities(analyze([rule("get", "", "pods/*")]))
    assert {"pods-exec", "pods-attach", "pods-portforward", "wildcard-resources"} <= set(found)
    assert "pods-create" not in found  # pods/* does not match pods itself
    assert "pods-exec" in severities(analyze([rule("patch", "", "pods/*")]))  # pods/ephemeralcontainers


def test_read_only_wildcard_is_not_critical_but_still_reads_secrets() -> None:
    found = severities(analyze([rule(READ, "*", "*")]))
    assert "cluster-admin" not in found
    assert found["wildcard-resources"] is MEDIUM
    assert found["wildcard-apigroups"] is MEDIUM
    assert found["secrets-read"] is HIGH


def test_wildcard_everything_with_resource_names_is_not_cluster_admin() -> None:
    found = severities(analyze([rule("*", "*", "*", names=["x"])]))
    assert "cluster-admin" not in found
    assert found["wildcard-resources"] is HIGH
    assert "pods-create" in found  # update/patch of the named pod still swaps its image
    assert "persistentvolume-create" not in found  # create can never match a name


def test_non_resource_wildcard_alone_is_not_cluster_admin() -> None:
    found = severities(analyze([urls("*", "*")], cluster_wide=True))
    assert found == {"wildcard-verbs": MEDIUM, "wildcard-resources": MEDIUM}
    cluster_admin_role = [rule("*", "*", "*"), urls("*", "*")]
    assert [f.id for f in analyze(cluster_admin_role) if f.id == "cluster-admin"] == [
        "cluster-admin",
    ]
    assert analyze(cluster_admin_role)[0].rule_index == 0


@pytest.mark.parametrize(
    ("narrow", "wide"),
    [
        (rule("bind", RBAC, "clusterroles", names=["view"]), rule("bind", RBAC, "clusterroles")),
        (rule("impersonate", "", "users", names=["alice"]), rule("impersonate", "", "users")),
        (rule("get", "", "secrets", names=["tls"]), rule("list", "", "secrets")),
        (rule("create", "", "serviceaccounts/token", names=["ci"]), rule("create", "", "serviceaccounts/token")),
        (rule("get", "", "nodes/proxy", names=["n1"]), rule("get", "", "nodes/proxy")),
    ],
)
def test_resource_names_lower_the_severity(narrow: PolicyRule, wide: PolicyRule) -> None:
    (narrowed,) = analyze([narrow])
    (unrestricted,) = analyze([wide])
    assert narrowed.id == unrestricted.id
    assert narrowed.severity.rank == unrestricted.severity.rank - 1
    assert "resourceNames" in narrowed.why
    assert "resourceNames" not in unrestricted.why


def test_cluster_wide_raises_namespace_reach_but_not_cluster_scoped_risks() -> None:
    rules = [
        rule("list", "", "secrets"),
        rule("create", "", "persistentvolumes"),
        rule("get", "", "pods/attach"),
        rule("create", "", "pods/portforward"),
    ]
    namespaced = [f.severity for f in analyze(rules)]
    wide = [f.severity for f in analyze(rules, cluster_wide=True)]
    assert namespaced == [HIGH, HIGH, HIGH, MEDIUM]
    assert wide == [CRITICAL, HIGH, HIGH, MEDIUM]
    assert "every namespace" in analyze(rules, cluster_wide=True)[0].why


def test_findings_are_ordered_by_rule_then_id_and_explain_themselves_in_one_sentence() -> None:
    rules = [rule("get", "", "configmaps"), rule("*", "", "pods/*"), rule(["get", "create"], "", ["secrets", "pods"])]
    findings = analyze(rules)
    keys = [(f.rule_index, f.id) for f in findings]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert next(f.rule_index for f in findings) == 1
    for case in POSITIVE:
        for finding in analyze(case[2], cluster_wide=case[3]):
            assert finding.why.endswith(".")
            assert finding.why.count(". ") == 0
            assert "\n" not in finding.why
            assert finding.why[0].islower()
            assert len(finding.why) < 300


def test_csr_approval_halves_in_two_rules_are_both_named_and_critical_together() -> None:
    paired = analyze([rule("get", "", "pods"), APPROVAL, ALL_SIGNERS])
    assert [(f.rule_index, f.id, f.severity) for f in paired] == [
        (1, "csr-approve", CRITICAL),
        (2, "csr-approve", CRITICAL),
    ]
    (alone,) = analyze([ALL_SIGNERS])
    assert alone.severity is HIGH
    assert "certificatesigningrequests/approval" in alone.why  # says what would complete it
    custom = analyze([APPROVAL, CUSTOM_SIGNER])
    assert [f.severity for f in custom] == [HIGH, HIGH]  # a team signer cannot mint system:masters


def test_blocking_means_high_or_critical() -> None:
    (medium,) = analyze([rule("create", "", "pods/portforward")])
    (high,) = analyze([rule("get", "", "secrets")])
    assert not medium.blocking
    assert high.blocking


def test_a_rule_mixing_urls_and_resources_is_refused_not_skipped() -> None:
    mixed = PolicyRule(verbs=("*",), api_groups=("",), resources=("secrets",), non_resource_urls=("/metrics",))
    with pytest.raises(InvalidInput, match=r"rule 1 .*mixes nonResourceURLs"):
        analyze([rule("get", "", "pods"), mixed])


# --- the built-in aggregated roles, written out (Kubernetes 1.34 bootstrap policy) -------------------------

VIEW_RULES = [
    rule(
        READ,
        "",
        [
            "configmaps",
            "endpoints",
            "persistentvolumeclaims",
            "persistentvolumeclaims/status",
            "pods",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "serviceaccounts",
            "services",
            "services/status",
        ],
    ),
    rule(
        READ,
        "",
        [
            "bindings",
            "events",
            "limitranges",
            "namespaces/status",
            "pods/log",
            "pods/status",
            "replicationcontrollers/status",
            "resourcequotas",
            "resourcequotas/status",
        ],
    ),
    rule(READ, "", "namespaces"),
    rule(READ, "discovery.k8s.io", "endpointslices"),
    rule(
        READ,
        "apps",
        [
            "controllerrevisions",
            "daemonsets",
            "daemonsets/status",
            "deployments",
            "deployments/scale",
            "deployments/status",
            "replicasets",
            "replicasets/scale",
            "replicasets/status",
            "statefulsets",
            "statefulsets/scale",
            "statefulsets/status",
        ],
    ),
    rule(READ, "autoscaling", ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
    rule(READ, "batch", ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
    rule(
        READ,
        "extensions",
        [
            "daemonsets",
            "daemonsets/status",
            "deployments",
            "deployments/scale",
            "deployments/status",
            "ingresses",
            "ingresses/status",
            "networkpolicies",
            "replicasets",
            "replicasets/scale",
            "replicasets/status",
            "replicationcontrollers/scale",
        ],
    ),
    rule(READ, "policy", ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
    rule(READ, "networking.k8s.io", ["ingresses", "ingresses/status", "networkpolicies"]),
]

EDIT_RULES = [
    rule(READ, "", ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"]),
    rule("impersonate", "", "serviceaccounts"),
    rule(WRITE, "", ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
    rule("create", "", "pods/eviction"),
    rule(
        WRITE,
        "",
        [
            "configmaps",
            "events",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "secrets",
            "serviceaccounts",
            "services",
            "services/proxy",
        ],
    ),
    rule("create", "", "serviceaccounts/token"),
    rule(
        WRITE,
        "apps",
        [
            "daemonsets",
            "deployments",
            "deployments/rollback",
            "deployments/scale",
            "replicasets",
            "replicasets/scale",
            "statefulsets",
            "statefulsets/scale",
        ],
    ),
    rule(WRITE, "autoscaling", "horizontalpodautoscalers"),
    rule(WRITE, "batch", ["cronjobs", "jobs"]),
    rule(
        WRITE,
        "extensions",
        [
            "daemonsets",
            "deployments",
            "deployments/rollback",
            "deployments/scale",
            "ingresses",
            "networkpolicies",
            "replicasets",
            "replicasets/scale",
            "replicationcontrollers/scale",
        ],
    ),
    rule(WRITE, "policy", "poddisruptionbudgets"),
    rule(WRITE, "networking.k8s.io", ["ingresses", "networkpolicies"]),
    rule([*READ, *WRITE], "coordination.k8s.io", "leases"),
    *VIEW_RULES,  # edit aggregates view
]


def test_the_builtin_edit_role_is_flagged_for_what_it_really_allows() -> None:
    found: dict[str, Severity] = {f.id: f.severity for f in analyze(EDIT_RULES)}
    required = {"secrets-read", "pods-exec", "pods-attach", "pods-portforward", "workloads-create", "pods-create"}
    assert required | {"impersonate", "serviceaccount-token"} <= set(found)
    assert found["impersonate"] is HIGH  # ServiceAccounts of the namespace only
    assert not {"cluster-admin", "escalate", "bind", "rbac-write", "nodes-proxy", "webhook-config"} & set(found)
    wide: dict[str, Severity] = {f.id: f.severity for f in analyze(EDIT_RULES, cluster_wide=True)}
    assert wide["secrets-read"] is CRITICAL
    assert wide["impersonate"] is CRITICAL


def test_the_builtin_view_role_has_no_finding() -> None:
    assert analyze(VIEW_RULES) == ()
    assert not any(f.blocking for f in analyze(VIEW_RULES, cluster_wide=True))


# --- properties --------------------------------------------------------------------------------------------

VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
VERBS += ["escalate", "bind", "impersonate", "approve", "proxy", "*"]
GROUPS = ["", "apps", "batch", "extensions", RBAC, CERTS, ADMISSION, AUTHN, "example.com"]
GROUPS += ["apiregistration.k8s.io", "apiextensions.k8s.io", "discovery.k8s.io", "*"]
RESOURCES = [
    "pods",
    "pods/exec",
    "pods/attach",
    "pods/portforward",
    "pods/proxy",
    "pods/log",
    "pods/ephemeralcontainers",
    "pods/*",
    "*/exec",
    "*/proxy",
    "secrets",
    "configmaps",
    "deployments",
    "daemonsets",
    "jobs",
    "cronjobs",
    "replicationcontrollers",
    "nodes",
    "nodes/proxy",
    "serviceaccounts",
    "serviceaccounts/token",
    "persistentvolumes",
    "roles",
    "clusterroles",
    "rolebindings",
    "clusterrolebindings",
    "users",
    "groups",
    "uids",
    "userextras/scopes",
    "signers",
    "certificatesigningrequests/approval",
    "mutatingwebhookconfigurations",
    "services/proxy",
    "validatingadmissionpolicies",
    "namespaces",
    "nodes/status",
    "apiservices",
    "customresourcedefinitions",
    "services",
    "services/status",
    "endpoints",
    "endpointslices",
    "*",
]
NAMES = ["web", "cluster-admin", "system:masters", "kubernetes.io/kube-apiserver-client", "example.com/signer"]
PATHS = ["*", "/metrics", "/debug/*", "/api/*", "/healthz", "/logs*"]


def subset(values: list[str], max_size: int = 3) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(values), min_size=1, max_size=max_size, unique=True).map(tuple)


resource_rules = st.builds(
    PolicyRule,
    verbs=subset(VERBS),
    api_groups=subset(GROUPS, 2),
    resources=subset(RESOURCES),
    resource_names=st.one_of(st.just(()), subset(NAMES, 2)),
)
url_rules = st.builds(PolicyRule, verbs=subset(["get", "post", "put", "*"], 2), non_resource_urls=subset(PATHS, 2))
rules_strategy = st.lists(st.one_of(resource_rules, resource_rules, url_rules), max_size=6)


def keys(findings: Sequence[Finding], shift: int = 0) -> set[tuple[str, int, PolicyRule]]:
    return {(f.id, f.rule_index + shift, f.rule) for f in findings}


@settings(max_examples=300, deadline=None)
@given(a=rules_strategy, b=rules_strategy, cluster_wide=st.booleans())
def test_adding_rules_never_removes_findings(a: list[PolicyRule], b: list[PolicyRule], cluster_wide: bool) -> None:
    alone = analyze(a, cluster_wide=cluster_wide)
    assert keys(alone) <= keys(analyze(a + b, cluster_wide=cluster_wide))
    assert keys(alone, shift=len(b)) <= keys(analyze(b + a, cluster_wide=cluster_wide))


@settings(max_examples=300, deadline=None)
@given(rules=rules_strategy, cluster_wide=st.booleans())
def test_analysis_is_deterministic_and_ordered(rules: list[PolicyRule], cluster_wide: bool) -> None:
    first = analyze(rules, cluster_wide=cluster_wide)
    assert first == analyze(tuple(rules), cluster_wide=cluster_wide) == analyze(list(rules), cluster_wide=cluster_wide)
    order = [(f.rule_index, f.id) for f in first]
    assert order == sorted(set(order))
    assert {f.id for f in first} <= RISK_IDS


@settings(max_examples=300, deadline=None)
@given(rules=rules_strategy.filter(bool), data=st.data())
def test_widening_verbs_to_wildcard_never_removes_findings(rules: list[PolicyRule], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(rules) - 1))
    widened = list(rules)
    old = rules[index]
    widened[index] = PolicyRule(("*",), old.api_groups, old.resources, old.resource_names, old.non_resource_urls)
    before = {(f.id, f.rule_index) for f in analyze(rules)}
    assert before <= {(f.id, f.rule_index) for f in analyze(widened)}


@settings(max_examples=300, deadline=None)
@given(rules=rules_strategy)
def test_cluster_wide_never_lowers_a_severity(rules: list[PolicyRule]) -> None:
    namespaced = {(f.id, f.rule_index): f.severity.rank for f in analyze(rules)}
    wide = {(f.id, f.rule_index): f.severity.rank for f in analyze(rules, cluster_wide=True)}
    assert namespaced.keys() == wide.keys()
    assert all(wide[key] >= rank for key, rank in namespaced.items())


@settings(max_examples=300, deadline=None)
@given(rules=st.lists(resource_rules, min_size=1, max_size=5), names=subset(NAMES, 2), data=st.data())
def test_narrowing_with_resource_names_never_adds_or_raises(
    rules: list[PolicyRule], names: tuple[str, ...], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(rules) - 1))
    unrestricted = [PolicyRule(r.verbs, r.api_groups, r.resources) for r in rules]
    narrowed = list(unrestricted)
    narrowed[index] = PolicyRule(rules[index].verbs, rules[index].api_groups, rules[index].resources, names)
    before = {(f.id, f.rule_index): f.severity.rank for f in analyze(unrestricted)}
    after = {(f.id, f.rule_index): f.severity.rank for f in analyze(narrowed)}
    assert after.keys() <= before.keys()
    assert all(rank <= before[key] for key, rank in after.items())


@settings(max_examples=500, deadline=None)
@given(
    r=resource_rules,
    verb=st.sampled_from(VERBS[:-1]),
    group=st.sampled_from(GROUPS[:-1]),
    target=st.sampled_from([x for x in RESOURCES if "*" not in x]),
)
def test_fast_matcher_agrees_with_kubernetes_matching(r: PolicyRule, verb: str, group: str, target: str) -> None:
    """The inlined matcher is rbac.rule_allows_resource for some name a real request could carry."""
    resource, _, subresource = target.partition("/")
    if not subresource and verb in ("create", "deletecollection"):
        candidates: tuple[str, ...] = ("",)  # Kubernetes authorizes these without a name
    else:
        candidates = (*r.resource_names, "anything")
    expected = any(
        rule_allows_resource(r, verb, group, resource, subresource, name, conservative=True) for name in candidates
    )
    assert _grants(r, (verb,), ((group, resource, subresource),)) is expected


# --- the registry -----------------------------------------------------------------------------------------


def test_risk_ids_keep_their_contract_values() -> None:
    contract = [
        "wildcard-verbs",
        "wildcard-resources",
        "wildcard-apigroups",
        "escalate",
        "bind",
        "impersonate",
        "secrets-read",
        "pods-exec",
        "pods-attach",
        "pods-portforward",
        "pods-create",
        "workloads-create",
        "nodes-proxy",
        "serviceaccount-token",
        "csr-approve",
        "webhook-config",
        "rbac-write",
        "persistentvolume-create",
        "cluster-admin",
        "namespace-write",
        "node-write",
        "apiservice-write",
        "crd-write",
        "network-redirect",
        "secrets-write",
    ]
    assert [str(risk_id) for risk_id in RiskId] == contract
    assert RiskId.parse("secrets-read") is RiskId.SECRETS_READ
    assert RiskId.parse("Secrets-Read") is None
    assert RiskId.parse("no-such-risk") is None


def test_the_registry_refuses_an_id_without_an_entry_or_with_two() -> None:
    from kubejit.domain.rbac_risk._registry import _in_id_order

    entries = tuple(_CHECKS)
    with pytest.raises(RuntimeError, match="without an entry: bind; ids with two: none"):
        _in_id_order(tuple(e for e in entries if e.id is not RiskId.BIND))
    with pytest.raises(RuntimeError, match="without an entry: none; ids with two: bind"):
        _in_id_order((*entries, next(e for e in entries if e.id is RiskId.BIND)))
    assert _in_id_order(tuple(reversed(entries))) == _CHECKS


def test_an_entry_raises_cluster_wide_then_narrows_by_resource_names_and_says_so() -> None:
    from kubejit.domain.rbac_risk._checks import Match, Profile
    from kubejit.domain.rbac_risk._registry import Risk

    wide = Profile(cluster_wide=True, has_csr_approval=False, has_csr_signer=False, signer_power=HIGH)
    named = rule("get", "", "secrets", names=["db"])
    entry = Risk(RiskId.SECRETS_READ, HIGH, "reads", lambda _r, _p: True, cluster_wide=CRITICAL, narrowed_by_names=True)
    hit = entry.hit(named, wide)
    assert hit is not None
    assert (hit.severity, hit.why) == (
        HIGH,
        "reads, and the grant covers every namespace, kube-system included (limited to resourceNames db).",
    )
    worded = Risk(RiskId.SECRETS_READ, HIGH, "reads", lambda _r, _p: Match("peeks", MEDIUM, narrowed=False), None, True)
    assert worded.hit(named, wide) == type(hit)(MEDIUM, "peeks.")
    assert Risk(RiskId.SECRETS_READ, HIGH, "reads", lambda _r, _p: False, None, True).hit(named, wide) is None
