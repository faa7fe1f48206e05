"""`kubejit scan` finds at least what rbac-police and KubiScan find, on the real control plane.

The test seeds kube-apiserver with one risky binding per kind of risk the two scanners flag (each to a subject
of its own), scans it with kubejit (live, and from a kubectl dump), and checks every (subject, check) pair
the scanners report against kubejit's risk ids for that subject, through the mapping tables below.

What each scanner reports on a seed comes from two places:

- ``SEEDS`` says, for each seed, which rbac-police policies and KubiScan templates fire on it, read from
  their published rule sets (rbac-police's ``lib/*.rego``, KubiScan's ``risky_roles.yaml``). This part always
  runs: it needs no scanner binary.
- When a scanner runs here (tests/scanners.py), its real output on the same cluster is compared too. The
  package registries refuse both today (rbac-police is not served by the Go module proxy, KubiScan has no
  package on PyPI); that refusal is reported as a skip with the registry's answer. Any other reason a scanner
  cannot run (no ``go``, a failed build, a broken KUBEJIT_* path) fails.

``RBAC_POLICE`` and ``KUBISCAN`` map every check of each tool to the kubejit ids that cover it (one of them is
enough), or to why no kubejit id applies. ``KNOWN_GAPS`` lists the checks kubejit deliberately does not match
(each with its reason); a seed for each proves the gap is still there, so closing it forces this file to say so.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubejit.devcluster.cluster import DevCluster
from tests import scanners
from tests.conftest import Kubectl

KUBEJIT = str(Path(sys.executable).parent / "kubejit")

# --- the mapping tables ------------------------------------------------------------------------------------

# rbac-police policy (lib/<name>.rego) -> the kubejit ids that cover it, or a string saying why none applies.
RBAC_POLICE: dict[str, frozenset[str] | str] = {
    "approve_csrs": frozenset({"csr-approve"}),
    "assign_sa": frozenset({"pods-create", "workloads-create"}),
    "bind_roles": frozenset({"bind", "rbac-write"}),
    "cluster_admin": frozenset({"cluster-admin"}),
    "control_webhooks": frozenset({"webhook-config"}),
    "eks_modify_aws_auth": "EKS only: fires when the collected platform is eks (the aws-auth ConfigMap)",
    "escalate_roles": frozenset({"escalate"}),
    "impersonate": frozenset({"impersonate"}),
    "issue_token_secrets": frozenset({"secrets-write"}),
    "list_secrets": frozenset({"secrets-read"}),
    "modify_node_status": frozenset({"node-write"}),
    "modify_pod_status": frozenset({"network-redirect"}),
    "modify_pods": frozenset({"pods-create"}),
    "modify_service_status_cve_2020_8554": frozenset({"network-redirect"}),
    "nodes_proxy": frozenset({"nodes-proxy"}),
    "obtain_token_weak_ns": frozenset({"secrets-read", "secrets-write", "serviceaccount-token"}),
    "pods_ephemeral_ctrs": frozenset({"pods-exec"}),
    "pods_exec": frozenset({"pods-exec"}),
    "providerIAM": "cloud IAM: ServiceAccount annotations (eks.amazonaws.com/role-arn), not RBAC",
    "rce_weak_ns": frozenset({"pods-exec", "pods-create"}),
    "retrieve_secrets": frozenset({"secrets-read"}),
    "retrieve_token_secrets": frozenset({"secrets-read"}),
    # delete/evict pods AND cordon nodes: kubejit flags the node half (node-write), which the policy requires
    "steal_pods": frozenset({"node-write"}),
    "token_request": frozenset({"serviceaccount-token"}),
}

_WORKLOADS = ("deployments", "daemonsets", "statefulsets", "replicasets", "replicationcontrollers", "jobs", "cronjobs")
_RBAC_KINDS = ("roles", "clusterroles", "rolebindings", "clusterrolebindings")

# KubiScan template (risky_roles.yaml metadata.name) -> kubejit ids. KubiScan marks a role risky when it holds
# every rule of a template (apiGroups "*" there means any group).
KUBISCAN: dict[str, frozenset[str] | str] = {
    "risky-get-secrets": frozenset({"secrets-read"}),
    "risky-list-secrets": frozenset({"secrets-read"}),
    "risky-impersonate-groups": frozenset({"impersonate"}),
    "risky-any-verb": frozenset({"cluster-admin"}),
    "risky-any-verb-secrets": frozenset({"secrets-read"}),
    "risky-any-verb-pods": frozenset({"pods-create"}),
    **{f"risky-any-verb-{kind}": frozenset({"workloads-create"}) for kind in _WORKLOADS},
    **{f"risky-any-verb-{kind}": frozenset({"rbac-write", "escalate", "bind"}) for kind in _RBAC_KINDS},
    "risky-any-verb-users": frozenset({"impersonate"}),
    "risky-any-verb-groups": frozenset({"impersonate"}),
    "risky-any-resource-delete": frozenset({"wildcard-resources"}),
    "risky-any-resource-create": frozenset({"wildcard-resources"}),
    "risky-any-resource-list": frozenset({"secrets-read"}),
    "risky-any-resource-get": frozenset({"secrets-read"}),
    "risky-any-resource-impersonate": frozenset({"impersonate"}),
    **{f"risky-{verb}-{kind}": frozenset({"workloads-create"}) for verb in ("create", "update") for kind in _WORKLOADS},
    "risky-create-rolebinding-role": frozenset({"bind", "rbac-write"}),
    "risky-create-rolebinding-clusterrole": frozenset({"bind", "rbac-write"}),
    "risky-create-clusterrolebinding-clusterrole": frozenset({"bind", "rbac-write"}),
    "risky-create-pod": frozenset({"pods-create"}),
    "risky-exec-pods": frozenset({"pods-exec"}),
    "risky-attach-pods": frozenset({"pods-attach"}),
    "risky-add-rolebinding": frozenset({"rbac-write"}),
}

# Checks kubejit does not match on purpose, with the reason; each has a seed that shows it.
KNOWN_GAPS: dict[str, str] = {}

# --- the seeds ---------------------------------------------------------------------------------------------

Rule = dict[str, list[str]]


def r(verbs: str, resources: str, group: str = "", names: str = "") -> Rule:
    rule = {"apiGroups": [group], "resources": resources.split(","), "verbs": verbs.split(",")}
    return {**rule, "resourceNames": names.split(",")} if names else rule


@dataclass(frozen=True)
class Seed:
    """One risky binding: its subject, its rules, cluster-wide or in the test's namespace, and what fires."""

    case: str
    kind: str  # User, Group or ServiceAccount
    rules: tuple[Rule, ...]
    cluster_wide: bool = True
    rbac_police: tuple[str, ...] = ()
    kubiscan: tuple[str, ...] = ()


RBAC_GROUP = "rbac.authorization.k8s.io"
CERTS = "certificates.k8s.io"
SEEDS: tuple[Seed, ...] = (
    Seed("admin", "User", (r("*", "*", "*"),), rbac_police=("cluster_admin",), kubiscan=("risky-any-verb",)),
    Seed(
        "secret-reader",
        "Group",
        (r("get,list", "secrets", "*"),),
        rbac_police=("retrieve_secrets",),
        kubiscan=("risky-get-secrets", "risky-list-secrets"),
    ),
    Seed(
        "execer",
        "ServiceAccount",
        (r("create", "pods/exec"), r("get", "pods")),
        rbac_police=("pods_exec",),
        kubiscan=("risky-exec-pods",),
    ),
    Seed(
        "pod-starter",
        "ServiceAccount",
        (r("create", "pods", "*"),),
        rbac_police=("assign_sa",),
        kubiscan=("risky-create-pod",),
    ),
    Seed(
        "deployer",
        "ServiceAccount",
        (r("create,update", "deployments", "*"),),
        rbac_police=("assign_sa",),
        kubiscan=("risky-create-deployments", "risky-update-deployments"),
    ),
    Seed(
        "impersonator",
        "User",
        (r("impersonate", "users,groups,serviceaccounts", "*"),),
        rbac_police=("impersonate",),
        kubiscan=("risky-impersonate-groups",),
    ),
    Seed(
        "escalator",
        "ServiceAccount",
        (r("escalate,bind", "clusterroles", RBAC_GROUP),),
        rbac_police=("escalate_roles", "bind_roles"),
    ),
    Seed(
        "binder",
        "User",
        (r("create", "rolebindings", RBAC_GROUP), r("bind", "clusterroles", RBAC_GROUP, names="*")),
        rbac_police=("bind_roles",),
        kubiscan=("risky-create-rolebinding-clusterrole",),
    ),
    Seed("kubelet-caller", "ServiceAccount", (r("get,create", "nodes/proxy"),), rbac_police=("nodes_proxy",)),
    Seed("token-minter", "ServiceAccount", (r("create", "serviceaccounts/token"),), rbac_police=("token_request",)),
    Seed(
        "csr-approver",
        "ServiceAccount",
        (
            r("create,get", "certificatesigningrequests", CERTS),
            r("update", "certificatesigningrequests/approval", CERTS),
            r("approve", "signers", CERTS),
        ),
        rbac_police=("approve_csrs",),
    ),
    Seed(
        "webhook-admins",
        "Group",
        (
            r(
                "create,update,patch",
                "mutatingwebhookconfigurations,validatingwebhookconfigurations",
                "admissionregistration.k8s.io",
            ),
        ),
        rbac_police=("control_webhooks",),
    ),
    Seed(
        "secret-writer",
        "ServiceAccount",
        (r("create,get", "secrets"),),
        rbac_police=("issue_token_secrets", "retrieve_secrets"),
        kubiscan=("risky-get-secrets",),
    ),
    Seed("node-labeller", "ServiceAccount", (r("patch", "nodes/status"),), rbac_police=("modify_node_status",)),
    Seed(
        "lb-status",
        "ServiceAccount",
        (r("patch", "services/status"),),
        rbac_police=("modify_service_status_cve_2020_8554",),
    ),
    Seed("debugger", "ServiceAccount", (r("patch", "pods/ephemeralcontainers"),), rbac_police=("pods_ephemeral_ctrs",)),
    Seed("pod-patcher", "ServiceAccount", (r("update,patch", "pods"),), rbac_police=("modify_pods",)),
    Seed("pod-thief", "ServiceAccount", (r("delete", "pods"), r("patch", "nodes")), rbac_police=("steal_pods",)),
    Seed(
        "local-execer",
        "ServiceAccount",
        (r("create", "pods/exec"), r("get", "pods")),
        cluster_wide=False,
        rbac_police=("rce_weak_ns",),
        kubiscan=("risky-exec-pods",),
    ),
    Seed(
        "local-token",
        "ServiceAccount",
        (r("create", "serviceaccounts/token"),),
        cluster_wide=False,
        rbac_police=("obtain_token_weak_ns",),
    ),
    Seed(
        "rb-editor",
        "User",
        (r("get,patch", "rolebindings", "*"),),
        cluster_wide=False,
        kubiscan=("risky-add-rolebinding",),
    ),
    Seed("deleter", "User", (r("delete", "*", "*"),), kubiscan=("risky-any-resource-delete",)),
    Seed("attacher", "ServiceAccount", (r("create", "pods/attach"), r("get", "pods")), kubiscan=("risky-attach-pods",)),
    Seed("pod-status", "ServiceAccount", (r("patch", "pods/status"),), rbac_police=("modify_pod_status",)),
)


# --- seeding the cluster -----------------------------------------------------------------------------------


def subject_name(seed: Seed, run: str) -> str:
    return f"cmp-{seed.case}-{run}"


def subject_key(seed: Seed, run: str, namespace: str) -> tuple[str, str]:
    """How both tools and kubejit name the subject: ServiceAccounts as ``namespace:name``."""
    name = subject_name(seed, run)
    return (seed.kind, f"{namespace}:{name}" if seed.kind == "ServiceAccount" else name)


def manifests(seed: Seed, run: str, namespace: str) -> list[dict[str, Any]]:
    name = subject_name(seed, run)
    subject: dict[str, str] = {"kind": seed.kind, "name": name}
    subject |= {"namespace": namespace} if seed.kind == "ServiceAccount" else {"apiGroup": RBAC_GROUP}
    role_kind, binding_kind = ("ClusterRole", "ClusterRoleBinding") if seed.cluster_wide else ("Role", "RoleBinding")
    meta: dict[str, Any] = {"name": name, "labels": {"kubejit-compare": run}}
    if not seed.cluster_wide:
        meta["namespace"] = namespace
    items: list[dict[str, Any]] = [
        {"apiVersion": f"{RBAC_GROUP}/v1", "kind": role_kind, "metadata": meta, "rules": list(seed.rules)},
        {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": binding_kind,
            "metadata": meta,
            "subjects": [subject],
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": name},
        },
    ]
    if seed.kind == "ServiceAccount":
        items.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}})
    return items


@pytest.fixture
def seeded(kubectl: Kubectl, namespace: str) -> Iterator[str]:
    """Every seed applied with real kubectl; the run id names its subjects. Cluster-scoped objects removed after."""
    run = uuid.uuid4().hex[:6]
    items = [item for seed in SEEDS for item in manifests(seed, run, namespace)]
    kubectl("apply", "-f", "-", input_text=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    yield run
    kubectl("delete", "clusterrolebindings,clusterroles", "-l", f"kubejit-compare={run}", check=False)


# --- kubejit's side ----------------------------------------------------------------------------------------


def kubejit_risks(*args: str) -> dict[tuple[str, str], set[str]]:
    """``kubejit scan -o json``: every risk id per subject, over all of the subject's bindings."""
    result = subprocess.run([KUBEJIT, "scan", *args, "-o", "json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    risks: dict[tuple[str, str], set[str]] = defaultdict(set)
    for finding in json.loads(result.stdout)["findings"]:
        subject = finding["subject"]
        name = f"{subject['namespace']}:{subject['name']}" if subject["kind"] == "ServiceAccount" else subject["name"]
        risks[(subject["kind"], name)].update(finding["risks"])
    return risks


def misses(reported: set[tuple[str, str, str]], risks: dict[tuple[str, str], set[str]]) -> list[str]:
    """The (subject, tool:check) pairs kubejit does not cover: no mapped id among the subject's risks."""
    tables = {"rbac-police": RBAC_POLICE, "kubiscan": KUBISCAN}
    missed = []
    for kind, name, check in sorted(reported):
        tool, _, rule = check.partition(":")
        covering = tables[tool].get(rule)
        if covering is None:
            missed.append(f"{kind} {name}: {check} is not in the mapping table")
        elif isinstance(covering, str):
            if check not in KNOWN_GAPS:
                missed.append(f"{kind} {name}: {check} has no kubejit id ({covering})")
        elif not covering & risks.get((kind, name), set()):
            found = sorted(risks.get((kind, name), set()))
            missed.append(f"{kind} {name}: {check} needs one of {sorted(covering)}, kubejit found {found}")
    return missed


def documented(run: str, namespace: str) -> set[tuple[str, str, str]]:
    """What the two rule sets flag on the seeds, per ``SEEDS``."""
    return {
        (*subject_key(seed, run, namespace), f"{tool}:{check}")
        for seed in SEEDS
        for tool, checks in (("rbac-police", seed.rbac_police), ("kubiscan", seed.kubiscan))
        for check in checks
    }


# --- the tests ---------------------------------------------------------------------------------------------


def test_the_tables_map_every_check_of_both_tools_and_every_seed_uses_them() -> None:
    for seed in SEEDS:
        assert set(seed.rbac_police) <= set(RBAC_POLICE), seed.case
        assert set(seed.kubiscan) <= set(KUBISCAN), seed.case
    seeded_checks = {f"rbac-police:{c}" for s in SEEDS for c in s.rbac_police}
    seeded_checks |= {f"kubiscan:{c}" for s in SEEDS for c in s.kubiscan}
    assert set(KNOWN_GAPS) <= seeded_checks  # each gap is shown on the cluster
    not_applicable = {name for name, target in RBAC_POLICE.items() if isinstance(target, str)}
    assert {"eks_modify_aws_auth", "providerIAM"} == not_applicable


def test_kubejit_finds_every_risk_the_two_rule_sets_flag_on_the_seeded_cluster(
    devcluster: DevCluster, kubectl: Kubectl, namespace: str, seeded: str, tmp_path: Path
) -> None:
    live = kubejit_risks("--kubeconfig", str(devcluster.admin_kubeconfig))
    expected = documented(seeded, namespace)
    assert misses(expected, live) == []

    dump = tmp_path / "rbac.json"
    dump.write_text(kubectl("get", "clusterroles,roles,clusterrolebindings,rolebindings", "-A", "-o", "json").stdout)
    assert misses(expected, kubejit_risks("--from-file", str(dump))) == []

    # the known gaps are still gaps: the seed that shows each has no kubejit finding at all
    for gap in KNOWN_GAPS:
        tool_check = gap.partition(":")[2]
        (seed,) = [s for s in SEEDS if tool_check in s.rbac_police + s.kubiscan]
        assert subject_key(seed, seeded, namespace) not in live, gap


def _available(get: Any) -> Any:
    """The scanner, or a skip when the package registry refused it (said why); anything else fails."""
    try:
        return get()
    except scanners.ScannerUnavailable as error:
        if error.refused_by_registry:
            pytest.skip(f"not comparable on this machine: {error}")
        pytest.fail(f"scanner set-up is broken: {error}", pytrace=False)


def test_kubejit_misses_nothing_rbac_police_reports(
    devcluster: DevCluster, namespace: str, seeded: str, tmp_path: Path
) -> None:
    tool: scanners.RbacPolice = _available(scanners.rbac_police)
    env = {"KUBECONFIG": str(devcluster.admin_kubeconfig), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    collected, report = tmp_path / "rbacDb.json", tmp_path / "eval.json"
    for argv in (
        [str(tool.binary), "collect", "-a", "-o", str(collected)],
        # rbac-police's policies import lib/utils/*.rego relative to the working directory: run it beside lib/.
        [str(tool.binary), "eval", tool.policies.name, str(collected), "--violations", "all", "-o", str(report)],
    ):
        result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, cwd=tool.policies.parent)
        assert result.returncode == 0, f"{argv[1]}: {result.stderr}"
    ours = {key for seed in SEEDS for key in [subject_key(seed, seeded, namespace)]}
    reported = {
        (kind, name, f"rbac-police:{policy}")
        for kind, name, policy in scanners.rbac_police_violations(json.loads(report.read_text()))
        if (kind, name) in ours
    }
    assert reported, "rbac-police reported nothing on the seeded subjects"
    assert misses(reported, kubejit_risks("--kubeconfig", str(devcluster.admin_kubeconfig))) == []


def test_kubejit_misses_no_subject_kubiscan_reports(devcluster: DevCluster, namespace: str, seeded: str) -> None:
    tool: scanners.KubiScan = _available(scanners.kubiscan)
    env = {"KUBECONFIG": str(devcluster.admin_kubeconfig), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [str(tool.python), str(tool.script), "-rs"], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    risks = kubejit_risks("--kubeconfig", str(devcluster.admin_kubeconfig))
    # KubiScan's risky-subjects table names no template: each risky seeded subject must have a blocking kubejit id
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in result.stdout.splitlines() if "|" in line]
    flagged = [seed for seed in SEEDS if any(row[-1:] == [subject_name(seed, seeded)] for row in rows)]
    assert flagged, f"KubiScan flagged none of the seeded subjects:\n{result.stdout}"
    for seed in flagged:
        name = subject_name(seed, seeded)
        assert risks.get(subject_key(seed, seeded, namespace)), f"KubiScan flags {name}, kubejit does not"
