"""``kubejit scan --suggest``: the profiles that would replace standing bindings, on plain values, and the
policy file the CLI writes from them, read back by the real policy loader and ``kubejit policy check``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from kubejit.adapters.policy_file import load_policy_file
from kubejit.domain.policy import PolicyError, Scope
from kubejit.domain.policy import RoleKind as ProfileRoleKind
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.rbac_risk import RiskId
from kubejit.domain.standing_access import (
    APPROVERS_PLACEHOLDER,
    BindingDef,
    BindingKind,
    ClusterRoleDef,
    RbacSnapshot,
    RoleDef,
    RoleKind,
    RoleRef,
    Subject,
    SubjectKind,
    scan,
    suggest_profiles,
)
from kubejit.entrypoints.cli.main import main
from kubejit.entrypoints.cli.scan_suggest import write_suggestion

CRB, RB = BindingKind.CLUSTER_ROLE_BINDING, BindingKind.ROLE_BINDING
ALICE, BOB = Subject(SubjectKind.USER, "alice"), Subject(SubjectKind.USER, "bob")
DEVS = Subject(SubjectKind.GROUP, "devs")
CI = Subject(SubjectKind.SERVICE_ACCOUNT, "ci", "team")
EVERYONE = Subject(SubjectKind.GROUP, "system:authenticated")
SECRETS = ClusterRoleDef("secret-reader", (PolicyRule(("get",), ("",), ("secrets",)),))
ADMIN = ClusterRoleDef("cluster-admin", (PolicyRule(("*",), ("*",), ("*",)),))
CONFIGMAPS = RoleDef("team", "cm-editor", (PolicyRule(("*",), ("",), ("configmaps",)),))


def snapshot() -> RbacSnapshot:
    secrets = RoleRef(RoleKind.CLUSTER_ROLE, "secret-reader")
    return RbacSnapshot(
        (SECRETS, ADMIN),
        (CONFIGMAPS,),
        (BindingDef(CRB, "alice-admin", RoleRef(RoleKind.CLUSTER_ROLE, "cluster-admin"), (ALICE,)),),
        (
            BindingDef(RB, "devs-secrets", secrets, (DEVS, CI), "team"),
            BindingDef(RB, "bob-secrets", secrets, (BOB, EVERYONE), "web"),
            BindingDef(RB, "cm", RoleRef(RoleKind.ROLE, "cm-editor"), (DEVS,), "team"),
        ),
    )


def test_one_profile_per_role_and_scope_with_the_bindings_subjects() -> None:
    profiles = {p.name: p for p in suggest_profiles(scan(snapshot()).findings)}
    assert set(profiles) == {"secret-reader-namespaced", "team-cm-editor", "cluster-admin"}
    secrets = profiles["secret-reader-namespaced"]
    assert (secrets.namespaces, secrets.users, secrets.groups) == (("team", "web"), ("bob",), ("devs",))
    assert {str(b) for b in secrets.replaces} == {"RoleBinding team/devs-secrets", "RoleBinding web/bob-secrets"}
    assert secrets.accepted_risks == (RiskId.SECRETS_READ,)
    assert secrets.max_duration == "1h"
    assert secrets.refusal == ""
    assert any("ServiceAccount team/ci: a workload" in why for why in secrets.left_out)
    assert any("Group system:authenticated: a policy cannot name it" in why for why in secrets.left_out)
    role = profiles["team-cm-editor"]
    assert (role.role.kind, role.role_namespace, role.namespaces) == (RoleKind.ROLE, "team", ("team",))
    assert role.accepted_risks == ()  # medium only: nothing to accept
    assert role.max_duration == "4h"


def test_a_critical_role_is_never_accepted_for_the_user() -> None:
    admin = next(p for p in suggest_profiles(scan(snapshot()).findings) if p.name == "cluster-admin")
    assert admin.cluster_wide
    assert admin.refusal.startswith("kubejit refuses a profile with critical risks (cluster-admin,")
    assert "--suggest accepts no critical risk for you" in admin.refusal


def test_a_profile_nobody_could_request_is_refused_with_why() -> None:
    only_workload = RbacSnapshot(
        (SECRETS,), (), (), (BindingDef(RB, "ci", RoleRef(RoleKind.CLUSTER_ROLE, "secret-reader"), (CI,), "team"),)
    )
    [profile] = suggest_profiles(scan(only_workload).findings)
    assert profile.refusal.startswith("nobody a policy can name held it (ServiceAccount team/ci: a workload")


def test_profile_names_are_valid_and_unique() -> None:
    ref = RoleRef(RoleKind.CLUSTER_ROLE, "Weird:Name")
    weird = ClusterRoleDef("Weird:Name", SECRETS.rules)
    bindings = (BindingDef(RB, "a", ref, (ALICE,), "x"),)
    role = RoleDef("weird", "name-namespaced", SECRETS.rules)  # would be "weird-name-namespaced" too
    role_binding = BindingDef(RB, "b", RoleRef(RoleKind.ROLE, "name-namespaced"), (BOB,), "weird")
    found = scan(RbacSnapshot((weird,), (role,), (), (*bindings, role_binding))).findings
    assert sorted(p.name for p in suggest_profiles(found)) == ["weird-name-namespaced", "weird-name-namespaced-2"]


# ---- the CLI -------------------------------------------------------------------------------------------------


RBAC = "rbac.authorization.k8s.io/v1"


def _binding(kind: str, name: str, role: str, subjects: list[dict[str, str]], namespace: str = "") -> dict[str, Any]:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
    return {"apiVersion": RBAC, "kind": kind, "metadata": metadata, "roleRef": ref, "subjects": subjects}


OBJECTS = [
    {
        "kind": "ClusterRole",
        "metadata": {"name": "cluster-admin"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    },
    {
        "kind": "ClusterRole",
        "metadata": {"name": "secret-reader"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
    },
    _binding("ClusterRoleBinding", "alice-admin", "cluster-admin", [{"kind": "User", "name": "alice"}]),
    _binding("RoleBinding", "devs-secrets", "secret-reader", [{"kind": "Group", "name": "devs"}], "team"),
]


def run(*args: str) -> int:
    try:
        return main(list(args))
    except SystemExit as done:
        return int(done.code or 0)


@pytest.fixture
def dump(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"kind": "List", "items": OBJECTS}))
    return path


def test_the_written_policy_loads_and_passes_policy_check(
    dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "suggested.yaml"
    assert run("scan", "--from-file", str(dump), "--suggest", str(target), "-o", "json") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["findings"]  # the report still goes to stdout
    assert f"placeholder group {APPROVERS_PLACEHOLDER}" in captured.err
    assert "1 profile(s), 1 commented out" in captured.err
    policy = load_policy_file(target)
    [profile] = policy.profiles
    assert (profile.name, profile.role.kind, profile.role.name) == (
        "secret-reader-namespaced",
        ProfileRoleKind.CLUSTER_ROLE,
        "secret-reader",
    )
    assert (profile.scope, profile.namespaces, profile.requesters.groups) == (
        Scope.NAMESPACED,
        ("team",),
        frozenset({"devs"}),
    )
    assert profile.approval.approvers.groups == frozenset({APPROVERS_PLACEHOLDER})
    assert [risk.id for risk in profile.allow_risks] == ["secrets-read"]
    text = target.read_text()
    assert f"every profile names the placeholder group {APPROVERS_PLACEHOLDER}" in text
    assert "#   clusterRole: cluster-admin" in text  # the refused profile, commented out under its reason
    assert "NOT USABLE AS WRITTEN, so commented out: kubejit refuses a profile with critical risks" in text
    assert run("policy", "check", str(target)) == 0


def test_suggest_to_stdout_prints_only_the_policy(dump: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("scan", "--from-file", str(dump), "--suggest", "-") == 0
    out = capsys.readouterr().out
    assert out.startswith("# Written by kubejit scan --suggest from")
    assert "findings:" not in out


def test_suggest_needs_a_target(dump: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("scan", "--from-file", str(dump), "--suggest", "--fail-on") == 2
    assert "name the file to write the policy to, or - for stdout" in capsys.readouterr().err


def test_a_suggestion_the_loader_would_refuse_is_never_written(tmp_path: Path) -> None:
    [profile] = [p for p in suggest_profiles(scan(snapshot()).findings) if p.name == "team-cm-editor"]
    broken = dataclasses.replace(profile, namespaces=("Not_A_Namespace",))
    target = tmp_path / "suggested.yaml"
    with pytest.raises(PolicyError, match="is not a namespace name or pattern"):
        write_suggestion([broken], str(target), source="test")
    assert not target.exists()
