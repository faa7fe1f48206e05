"""``kubejit scan --from-file``: the dump formats kubectl writes, the table and JSON, ``--fail-on`` exit codes,
and clear errors for bad arguments and unreadable or malformed dumps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubejit.adapters.kube.rbac_dump import parse_dump
from kubejit.domain.errors import InvalidInput
from kubejit.entrypoints.cli.main import main

RBAC = "rbac.authorization.k8s.io/v1"


def cluster_role(name: str, rules: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": name, **extra}, "rules": rules}


def binding(kind: str, name: str, role: str, subjects: list[dict[str, str]], namespace: str = "") -> dict[str, Any]:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
    return {"apiVersion": RBAC, "kind": kind, "metadata": metadata, "roleRef": ref, "subjects": subjects}


DEFAULTS = {"labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}
OBJECTS = [
    cluster_role("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}], **DEFAULTS),
    cluster_role("secret-reader", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]),
    cluster_role("cm-all", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}]),
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "skipped"}},
    binding("ClusterRoleBinding", "cluster-admin", "cluster-admin", [{"kind": "Group", "name": "system:masters"}])
    | {"metadata": {"name": "cluster-admin", **DEFAULTS}},
    binding("ClusterRoleBinding", "alice-admin", "cluster-admin", [{"kind": "User", "name": "alice"}]),
    binding("RoleBinding", "devs-secrets", "secret-reader", [{"kind": "Group", "name": "devs"}], "team"),
    binding("RoleBinding", "ci-cm", "cm-all", [{"kind": "ServiceAccount", "name": "ci"}], "team"),
]


@pytest.fixture
def dump(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("COLUMNS", "400")  # the table at a wide terminal's width, each row on one line
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": OBJECTS}))
    return path


def run(*args: str) -> int:
    try:
        return main(["scan", *args])
    except SystemExit as done:
        return int(done.code or 0)


def test_json_lists_the_findings_worst_first_with_defaults_apart(
    dump: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--from-file", str(dump), "-o", "json") == 0
    report = json.loads(capsys.readouterr().out)
    rows = [
        (f["subject"]["name"], f["binding"]["name"], f["binding"]["scope"], f["severity"]) for f in report["findings"]
    ]
    assert rows == [
        ("alice", "alice-admin", "cluster", "critical"),
        ("devs", "devs-secrets", "team", "high"),
        ("ci", "ci-cm", "team", "medium"),
    ]
    assert report["findings"][0]["risks"][0] == "cluster-admin"
    assert report["findings"][1]["risks"] == ["secrets-read"]
    assert report["findings"][2]["subject"] == {"kind": "ServiceAccount", "name": "ci", "namespace": "team"}
    assert report["systemDefaults"]["count"] == 1
    assert report["systemDefaults"]["items"][0]["subject"]["name"] == "system:masters"


def test_the_table_shows_each_finding_and_counts_the_defaults(dump: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--from-file", str(dump)) == 0
    out = capsys.readouterr().out
    assert "alice-admin" in out
    assert "secrets-read" in out
    assert "User alice holds ClusterRole cluster-admin in every namespace" in out
    assert "findings: 3 (1 critical, 1 high, 1 medium)" in out
    assert "system defaults (not findings): 1" in out
    assert "system:masters" not in out
    assert run("--from-file", str(dump), "--show-defaults") == 0
    assert "Group system:masters via ClusterRoleBinding cluster-admin" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("objects", "severity", "code"),
    [
        (OBJECTS, "critical", 1),
        (OBJECTS, "HIGH", 1),
        (OBJECTS[2:3] + OBJECTS[-1:], "high", 0),  # only the medium finding
        (OBJECTS[2:3] + OBJECTS[-1:], "medium", 1),
        (OBJECTS[:1], "medium", 0),  # no findings at all
    ],
)
def test_fail_on_exits_1_at_that_severity_or_worse(
    tmp_path: Path, objects: list[dict[str, Any]], severity: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dump.yaml"
    path.write_text(yaml.safe_dump_all(objects))  # a YAML stream of objects reads too
    assert run("--from-file", str(path), "--fail-on", severity, "-o", "json") == code


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-on", "severe"], "--fail-on 'severe' is not a severity: use one of critical, high, medium"),
        (["-o", "yaml"], "-o 'yaml' is not supported: use -o table or -o json"),
        (["--kubeconfig", "k"], "--kubeconfig and --from-file exclude each other"),
    ],
)
def test_bad_arguments_are_usage_errors(
    dump: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--from-file", str(dump), *args) == 2
    assert message in capsys.readouterr().err


def test_nothing_to_scan_says_what_to_pass(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert run() == 2
    assert "--from-file FILE for a dump" in capsys.readouterr().err


def test_an_unreadable_dump_is_a_usage_error_that_says_how_to_write_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--from-file", str(tmp_path / "missing.json")) == 2
    err = capsys.readouterr().err
    assert "cannot read the dump" in err
    assert "kubectl get clusterroles,roles" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json: [", "neither JSON nor YAML"),
        ("", "holds no objects"),
        (json.dumps({"kind": "List", "items": [OBJECTS[0], "text"]}), "item 1 is not an object"),
        (
            json.dumps([{"kind": "RoleBinding", "metadata": {"name": "b"}}]),
            "item 0 (RoleBinding b): metadata.namespace",
        ),
        (
            json.dumps([binding("ClusterRoleBinding", "b", "r", [{"kind": "Robot", "name": "x"}])]),
            "item 0 (ClusterRoleBinding b): subject kind 'Robot' is not User, Group or ServiceAccount",
        ),
        (json.dumps([cluster_role("r", [{"verbs": "get"}])]), "item 0 (ClusterRole r): verbs must be a list, not str"),
    ],
)
def test_malformed_dumps_are_refused_with_where_and_what(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=r"dump\.json") as raised:
        parse_dump(text, source="dump.json")
    assert message in str(raised.value)


def test_typed_lists_and_arrays_read_like_a_list(dump: Path) -> None:
    typed = {"kind": "ClusterRoleList", "items": [{k: v for k, v in OBJECTS[1].items() if k != "kind"}]}
    snapshot = parse_dump(json.dumps(typed), source="x")
    assert [role.name for role in snapshot.cluster_roles] == ["secret-reader"]
    assert len(parse_dump(json.dumps(OBJECTS), source="x").role_bindings) == 2


LONG_BINDING = "payments-platform-continuous-delivery-secrets-readers"  # 53 characters


def test_the_table_reads_in_80_columns_grouped_by_subject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = [
        *OBJECTS,
        binding("RoleBinding", LONG_BINDING, "secret-reader", [{"kind": "Group", "name": "devs"}], "ns"),
    ]
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(objects))
    monkeypatch.setenv("COLUMNS", "80")
    assert run("--from-file", str(path)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 80
    assert all(line == line.rstrip() for line in lines)  # no padding to copy along
    assert lines.count("Group devs") == 1  # its two findings under one heading
    assert any(line.startswith(f"high      RoleBinding ns/{LONG_BINDING}") for line in lines)  # whole
    assert any(line.startswith("critical  ClusterRoleBinding alice-admin -> ClusterRole") for line in lines)


def test_json_carries_the_derived_findings_accounts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runner = cluster_role("pod-runner", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}])
    objects = [
        *OBJECTS,
        runner,
        binding("RoleBinding", "dev-pods", "pod-runner", [{"kind": "Group", "name": "dev"}], "team"),
    ]
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(objects))
    assert run("--from-file", str(path), "-o", "json") == 0
    report = json.loads(capsys.readouterr().out)
    [derived] = [f for f in report["findings"] if f["actsAs"]]
    assert derived["subject"]["name"] == "dev"
    assert derived["risks"] == ["wildcard-verbs"]  # what ServiceAccount team/ci adds: configmaps, every verb
    [reached] = derived["actsAs"]
    assert reached["serviceAccount"] == {"kind": "ServiceAccount", "name": "ci", "namespace": "team"}
    assert (reached["through"], reached["runningPodsOnly"], reached["gains"]) == (
        "pods-create",
        False,
        ["wildcard-verbs"],
    )
    assert reached["accountBinding"]["name"] == "ci-cm"
    assert all(f["actsAs"] is None for f in report["findings"] if f is not derived)
