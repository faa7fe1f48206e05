"""The standing-access scan on plain values: bindings resolved to subjects and to their roles' effective rules
(aggregation included), judged by the policy core's risk analysis in the binding's scope, defaults apart."""

from __future__ import annotations

from kubejit.domain.rbac import PolicyRule
from kubejit.domain.rbac_risk import RiskId, Severity
from kubejit.domain.standing_access import (
    BOOTSTRAP_LABEL,
    BindingDef,
    BindingKind,
    ClusterRoleDef,
    LabelSelector,
    RbacSnapshot,
    RoleDef,
    RoleKind,
    RoleRef,
    ScanReport,
    SelectorRequirement,
    Subject,
    SubjectKind,
    scan,
)

CRB, RB = BindingKind.CLUSTER_ROLE_BINDING, BindingKind.ROLE_BINDING
ALICE = Subject(SubjectKind.USER, "alice")
DEVS = Subject(SubjectKind.GROUP, "devs")
DEFAULTS = dict([BOOTSTRAP_LABEL])

ADMIN_RULE = PolicyRule(("*",), ("*",), ("*",))
SECRETS_GET = PolicyRule(("get",), ("",), ("secrets",))
CONFIGMAPS_READ = PolicyRule(("get", "list"), ("",), ("configmaps",))


def cluster_role(name: str, *rules: PolicyRule, **kwargs: object) -> ClusterRoleDef:
    return ClusterRoleDef(name, rules, **kwargs)  # type: ignore[arg-type]


def crb(name: str, role: str, *subjects: Subject, labels: dict[str, str] | None = None) -> BindingDef:
    return BindingDef(CRB, name, RoleRef(RoleKind.CLUSTER_ROLE, name=role), subjects, labels=labels or {})


def rb(name: str, namespace: str, ref: RoleRef, *subjects: Subject) -> BindingDef:
    return BindingDef(RB, name, ref, subjects, namespace)


def ids_of(report: ScanReport, subject: Subject) -> set[RiskId]:
    return {risk for f in report.findings if f.subject == subject for risk in f.risk_ids}


def test_a_user_bound_to_cluster_admin_is_a_critical_cluster_wide_finding() -> None:
    report = scan(
        RbacSnapshot(
            cluster_roles=(cluster_role("cluster-admin", ADMIN_RULE),),
            cluster_role_bindings=(crb("a", "cluster-admin", ALICE),),
        )
    )
    (finding,) = report.findings
    assert finding.subject == ALICE
    assert finding.severity is Severity.CRITICAL
    assert finding.risk_ids[0] is RiskId.CLUSTER_ADMIN
    assert {RiskId.SECRETS_READ, RiskId.IMPERSONATE, RiskId.ESCALATE, RiskId.BIND} <= set(finding.risk_ids)
    assert finding.binding.scope == "cluster"
    assert finding.path.startswith(
        "User alice holds ClusterRole cluster-admin in every namespace through ClusterRoleBinding a"
    )
    assert finding.path.endswith(".")


def test_the_escalation_verbs_and_pod_risks_each_get_their_id() -> None:
    rules = {
        RiskId.BIND: PolicyRule(("bind",), ("rbac.authorization.k8s.io",), ("clusterroles",)),
        RiskId.ESCALATE: PolicyRule(("escalate",), ("rbac.authorization.k8s.io",), ("roles",)),
        RiskId.IMPERSONATE: PolicyRule(("impersonate",), ("",), ("users",)),
        RiskId.PODS_EXEC: PolicyRule(("create",), ("",), ("pods/exec",)),
        RiskId.SECRETS_READ: PolicyRule(("list",), ("",), ("secrets",)),
        RiskId.WILDCARD_VERBS: PolicyRule(("*",), ("",), ("configmaps",)),
    }
    roles = tuple(cluster_role(str(risk), rule) for risk, rule in rules.items())
    bindings = tuple(
        rb(str(risk), "team", RoleRef(RoleKind.CLUSTER_ROLE, str(risk)), Subject(SubjectKind.USER, str(risk)))
        for risk in rules
    )
    report = scan(RbacSnapshot(cluster_roles=roles, role_bindings=bindings))
    for risk in rules:
        assert risk in ids_of(report, Subject(SubjectKind.USER, str(risk))), risk


def test_a_rolebinding_to_a_cluster_role_is_namespaced() -> None:
    role = cluster_role("reader", SECRETS_GET)
    namespaced = scan(
        RbacSnapshot(
            cluster_roles=(role,), role_bindings=(rb("r", "team", RoleRef(RoleKind.CLUSTER_ROLE, "reader"), DEVS),)
        )
    )
    everywhere = scan(RbacSnapshot(cluster_roles=(role,), cluster_role_bindings=(crb("r", "reader", DEVS),)))
    (inside,), (outside,) = namespaced.findings, everywhere.findings
    assert inside.binding.scope == "team"
    assert "in namespace team" in inside.path
    assert inside.severity is Severity.HIGH
    assert outside.severity is Severity.CRITICAL  # every namespace, kube-system included
    assert RiskId.SECRETS_READ in inside.risk_ids
    assert RiskId.SECRETS_READ in outside.risk_ids


def test_a_rolebinding_reads_the_role_of_its_own_namespace() -> None:
    roles = (RoleDef("team", "r", (SECRETS_GET,)), RoleDef("other", "r", (CONFIGMAPS_READ,)))
    snapshot = RbacSnapshot(
        roles=roles,
        role_bindings=(
            rb("b", "team", RoleRef(RoleKind.ROLE, "r"), DEVS),
            rb("b", "other", RoleRef(RoleKind.ROLE, "r"), DEVS),
        ),
    )
    (finding,) = scan(snapshot).findings
    assert finding.binding.namespace == "team"
    assert finding.risk_ids == (RiskId.SECRETS_READ,)


def test_aggregated_cluster_roles_take_the_rules_of_the_roles_their_selectors_match() -> None:
    label = {"example.com/aggregate-to-ops": "true"}
    selector = LabelSelector(match_labels=(("example.com/aggregate-to-ops", "true"),))
    by_expression = LabelSelector(match_expressions=(SelectorRequirement("tier", "In", ("gold",)),))
    roles = (
        cluster_role("ops", aggregation=(selector,)),  # no rules of its own: the controller has not run
        cluster_role("ops-secrets", SECRETS_GET, labels=label),
        cluster_role("nested", aggregation=(by_expression,), labels=label),  # aggregated and aggregating
        cluster_role("exec", PolicyRule(("create",), ("",), ("pods/exec",)), labels={"tier": "gold"}),
        cluster_role("unlabelled", PolicyRule(("impersonate",), ("",), ("users",))),
    )
    report = scan(
        RbacSnapshot(
            cluster_roles=roles, role_bindings=(rb("b", "team", RoleRef(RoleKind.CLUSTER_ROLE, "ops"), ALICE),)
        )
    )
    ids = ids_of(report, ALICE)
    assert {RiskId.SECRETS_READ, RiskId.PODS_EXEC} <= ids
    assert RiskId.IMPERSONATE not in ids


def test_aggregation_cycles_end() -> None:
    a = cluster_role("a", SECRETS_GET, labels={"x": "a"}, aggregation=(LabelSelector((("x", "b"),)),))
    b = cluster_role("b", CONFIGMAPS_READ, labels={"x": "b"}, aggregation=(LabelSelector((("x", "a"),)),))
    report = scan(RbacSnapshot(cluster_roles=(a, b), cluster_role_bindings=(crb("cb", "b", ALICE),)))
    assert RiskId.SECRETS_READ in ids_of(report, ALICE)


def test_system_defaults_are_reported_apart_but_additions_to_them_are_findings() -> None:
    admin = cluster_role("cluster-admin", ADMIN_RULE, labels=DEFAULTS)
    masters = Subject(SubjectKind.GROUP, "system:masters")
    controller = Subject(SubjectKind.SERVICE_ACCOUNT, "deployment-controller", "kube-system")
    snapshot = RbacSnapshot(
        cluster_roles=(admin,),
        cluster_role_bindings=(
            crb("cluster-admin", "cluster-admin", masters, ALICE, labels=DEFAULTS),  # alice was added to the default
            crb("system:controller:deployment-controller", "cluster-admin", controller),
            crb("mine", "cluster-admin", Subject(SubjectKind.USER, "system:kube-proxy")),
        ),
    )
    report = scan(snapshot)
    assert [str(f.subject) for f in report.findings] == ["User alice"]
    assert {str(g.subject) for g in report.system_defaults} == {
        "Group system:masters",
        "ServiceAccount kube-system/deployment-controller",
        "User system:kube-proxy",
    }


def test_groups_of_everyone_are_findings_outside_the_defaults() -> None:
    everyone = Subject(SubjectKind.GROUP, "system:authenticated")
    snapshot = RbacSnapshot(
        cluster_roles=(cluster_role("reader", SECRETS_GET),), cluster_role_bindings=(crb("oops", "reader", everyone),)
    )
    (finding,) = scan(snapshot).findings
    assert finding.subject == everyone


def test_service_accounts_take_the_binding_namespace_and_their_user_spelling() -> None:
    role = cluster_role("reader", SECRETS_GET)
    snapshot = RbacSnapshot(
        cluster_roles=(role,),
        role_bindings=(
            rb("a", "team", RoleRef(RoleKind.CLUSTER_ROLE, "reader"), Subject(SubjectKind.SERVICE_ACCOUNT, "ci")),
            rb(
                "b",
                "team",
                RoleRef(RoleKind.CLUSTER_ROLE, "reader"),
                Subject(SubjectKind.USER, "system:serviceaccount:team:ci"),
            ),
        ),
    )
    report = scan(snapshot)
    assert [str(f.subject) for f in report.findings] == ["ServiceAccount team/ci"] * 2
    assert report.system_defaults == ()


def test_harmless_bindings_and_missing_roles_are_no_findings() -> None:
    snapshot = RbacSnapshot(
        cluster_roles=(cluster_role("cm", CONFIGMAPS_READ),),
        cluster_role_bindings=(crb("fine", "cm", ALICE), crb("dangling", "gone", ALICE)),
    )
    report = scan(snapshot)
    assert report.findings == ()
    assert [b.name for b in report.missing_roles] == ["dangling"]


def test_findings_come_sorted_by_severity() -> None:
    roles = (
        cluster_role("admin", ADMIN_RULE),
        cluster_role("reader", SECRETS_GET),
        cluster_role("cm-all", PolicyRule(("*",), ("",), ("configmaps",))),
    )
    bindings = (
        rb("m", "team", RoleRef(RoleKind.CLUSTER_ROLE, "cm-all"), ALICE),
        rb("h", "team", RoleRef(RoleKind.CLUSTER_ROLE, "reader"), ALICE),
        crb("c", "admin", DEVS),
    )
    report = scan(RbacSnapshot(cluster_roles=roles, role_bindings=bindings[:2], cluster_role_bindings=bindings[2:]))
    assert [f.severity for f in report.findings] == [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM]
    assert report.worst() is Severity.CRITICAL
