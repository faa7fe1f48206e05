"""Who can act as a risky ServiceAccount through pods (or its token), on plain values: the derived findings
of a scan, their way in, their reach (namespace, resourceNames, running pods) and their bound."""

from __future__ import annotations

from kubejit.domain.rbac import PolicyRule
from kubejit.domain.rbac_risk import RiskId, Severity
from kubejit.domain.standing_access import (
    BindingDef,
    BindingKind,
    ClusterRoleDef,
    PodDef,
    RbacSnapshot,
    RoleKind,
    RoleRef,
    ScanReport,
    StandingFinding,
    Subject,
    SubjectKind,
    scan,
)

CRB, RB = BindingKind.CLUSTER_ROLE_BINDING, BindingKind.ROLE_BINDING
DEV = Subject(SubjectKind.GROUP, "dev")
OPS = Subject(SubjectKind.USER, "ops")


def account(namespace: str, name: str) -> Subject:
    return Subject(SubjectKind.SERVICE_ACCOUNT, name, namespace)


DEPLOYER = account("ci", "deployer")

ROLES = (
    ClusterRoleDef("binder", (PolicyRule(("create",), ("rbac.authorization.k8s.io",), ("clusterrolebindings",)),)),
    ClusterRoleDef("pod-runner", (PolicyRule(("create", "get"), ("",), ("pods",)),)),
    ClusterRoleDef("deploy", (PolicyRule(("create",), ("apps",), ("deployments",)),)),
    ClusterRoleDef("exec", (PolicyRule(("create", "get"), ("",), ("pods/exec",)),)),
    ClusterRoleDef("secrets", (PolicyRule(("get",), ("",), ("secrets",)),)),
    ClusterRoleDef("admin-all", (PolicyRule(("*",), ("*",), ("*",)),)),
    ClusterRoleDef(
        "token-for-deployer",
        (PolicyRule(("create",), ("",), ("serviceaccounts/token",), resource_names=("deployer",)),),
    ),
)


def bind(name: str, role: str, *subjects: Subject, namespace: str = "") -> BindingDef:
    kind = RB if namespace else CRB
    return BindingDef(kind, name, RoleRef(RoleKind.CLUSTER_ROLE, role), subjects, namespace)


def run(*bindings: BindingDef, pods: tuple[PodDef, ...] | None = None) -> ScanReport:
    cluster = tuple(b for b in bindings if b.kind is CRB)
    namespaced = tuple(b for b in bindings if b.kind is RB)
    return scan(RbacSnapshot(ROLES, (), cluster, namespaced, pods))


def derived_of(report: ScanReport, subject: Subject) -> list[StandingFinding]:
    return [f for f in report.findings if f.subject == subject and f.derived]


DEPLOYER_BINDS = bind("deployer-binds", "binder", DEPLOYER)


def test_a_pod_creator_acts_as_the_namespaces_risky_service_account() -> None:
    report = run(DEPLOYER_BINDS, bind("dev-pods", "pod-runner", DEV, namespace="ci"))
    [derived] = derived_of(report, DEV)
    assert derived.acts_as[0].account == DEPLOYER
    assert derived.acts_as[0].through is RiskId.PODS_CREATE
    assert derived.risk_ids == (RiskId.RBAC_WRITE,)
    assert derived.severity is Severity.CRITICAL
    assert derived.binding.name == "dev-pods"
    assert derived.path.startswith(
        "Group dev (through RoleBinding ci/dev-pods) can create pods in namespace ci, and a pod there can run as "
        "ServiceAccount ci/deployer, whose ClusterRole binder (bound by ClusterRoleBinding deployer-binds) can "
        "write ClusterRoles and ClusterRoleBindings"
    )
    [own] = [f for f in report.findings if f.subject == DEV and not f.derived]
    assert own.risk_ids == (RiskId.PODS_CREATE,)  # its own finding stays, and the critical derived one leads it
    assert report.findings.index(derived) < report.findings.index(own)
    assert not derived_of(report, DEPLOYER)  # an account does not act as itself


def test_a_pod_creator_in_another_namespace_reaches_nothing() -> None:
    report = run(DEPLOYER_BINDS, bind("dev-pods", "pod-runner", DEV, namespace="web"))
    assert derived_of(report, DEV) == []


def test_a_cluster_wide_pod_creator_reaches_every_namespace_in_one_finding() -> None:
    other = account("web", "builder")
    report = run(
        DEPLOYER_BINDS,
        bind("builder-secrets", "secrets", other, namespace="web"),
        bind("ops-pods", "pod-runner", OPS),
    )
    [derived] = derived_of(report, OPS)
    assert [reached.account for reached in derived.acts_as] == [DEPLOYER, other]  # the worst first
    assert derived.risk_ids == (RiskId.RBAC_WRITE, RiskId.SECRETS_READ)
    assert "can create pods in every namespace" in derived.path
    assert derived.path.endswith("(and 1 more risky ServiceAccount).")


def test_workloads_and_tokens_are_ways_in_and_token_names_narrow() -> None:
    other = account("ci", "other")
    report = run(
        DEPLOYER_BINDS,
        bind("other-binds", "binder", other),
        bind("dev-deploy", "deploy", DEV, namespace="ci"),
        bind("ops-token", "token-for-deployer", OPS, namespace="ci"),
    )
    [dev] = derived_of(report, DEV)
    assert {r.account for r in dev.acts_as} == {DEPLOYER, other}
    assert {r.through for r in dev.acts_as} == {RiskId.WORKLOADS_CREATE}
    assert "can create or change workloads in namespace ci, and their pods can run as" in dev.path
    [ops] = derived_of(report, OPS)
    assert [r.account for r in ops.acts_as] == [DEPLOYER]  # resourceNames: deployer's token only
    assert "can mint tokens for ServiceAccounts in namespace ci, ServiceAccount ci/deployer among them" in ops.path


def test_exec_reaches_the_accounts_pods_run_as_when_pods_were_read() -> None:
    other = account("ci", "other")
    bindings = (DEPLOYER_BINDS, bind("other-binds", "binder", other), bind("dev-exec", "exec", DEV, namespace="ci"))
    pods = (PodDef("ci", "build-1", "deployer"), PodDef("ci", "web-1", "default"), PodDef("web", "x", "other"))
    [derived] = derived_of(run(*bindings, pods=pods), DEV)
    assert [(r.account, r.pods, r.running_pods_only) for r in derived.acts_as] == [(DEPLOYER, ("ci/build-1",), True)]
    assert "can exec into pods in namespace ci, and pod ci/build-1 runs as ServiceAccount ci/deployer" in derived.path
    [unknown] = derived_of(run(*bindings), DEV)  # pods not read: any pod's account
    assert {r.account for r in unknown.acts_as} == {DEPLOYER, other}
    assert "can exec into any pod in namespace ci (pods were not read: any pod's ServiceAccount)" in unknown.path


def test_a_subject_that_holds_more_already_gets_no_derived_finding() -> None:
    report = run(DEPLOYER_BINDS, bind("ops-admin", "admin-all", OPS))
    assert derived_of(report, OPS) == []
    assert any(f.subject == OPS for f in report.findings)  # its own cluster-admin finding stays


def test_derived_findings_are_bounded_by_subject_and_scope() -> None:
    accounts = [account("ci", f"sa-{n}") for n in range(40)]
    bindings = [bind(f"sa-{n}", "binder", subject) for n, subject in enumerate(accounts)]
    bindings += [bind(f"dev-pods-{n}", "pod-runner", DEV, namespace="ci") for n in range(30)]
    bindings += [bind(f"dev-exec-{n}", "exec", DEV, namespace="ci") for n in range(30)]
    [derived] = derived_of(run(*bindings), DEV)  # 60 ways in x 40 accounts: one finding, 40 accounts
    assert len(derived.acts_as) == 40
    assert {r.through for r in derived.acts_as} == {RiskId.PODS_CREATE}  # each by its strongest way
