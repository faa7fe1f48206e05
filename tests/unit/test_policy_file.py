"""Loading policy files: good files become domain values; bad ones get every problem, with its position."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest

from kubejit.adapters.policy_file import load_policy, load_policy_file
from kubejit.domain.errors import InvalidInput
from kubejit.domain.policy import LocatedIssue, PolicyError, RoleKind, Scope

DEMO = resources.files("kubejit.examples").joinpath("demo-policy.yaml").read_text()

MINIMAL = """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: test}
spec:
  defaults: {defaultDuration: 30m, maxDuration: 4h, pendingTimeout: 1h}
  profiles:
    - name: payments-debug
      clusterRole: view
      namespaces: [payments]
      maxDuration: 1h
      requesters: {groups: [payments-devs]}
      approval:
        approvers: {groups: [payments-leads]}
      guardrails: [no-destructive]
  guardrails:
    - name: no-destructive
      deny:
        - {verbs: [delete], resources: [namespaces], message: refused}
"""


def problems(text: str) -> list[LocatedIssue]:
    with pytest.raises(PolicyError) as raised:
        load_policy(textwrap.dedent(text), "policy.yaml")
    return list(raised.value.issues)


def one(text: str) -> LocatedIssue:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_the_demo_policy_loads() -> None:
    policy = load_policy(DEMO, "demo-policy.yaml")
    assert [p.name for p in policy.profiles] == ["payments-debug", "payments-exec", "payments-emergency"]
    debug = policy.profiles[0]
    assert debug.role.kind is RoleKind.CLUSTER_ROLE
    assert debug.role.name == "view"
    assert debug.scope is Scope.NAMESPACED
    assert debug.allows_namespace("payments-eu")
    assert not debug.allows_namespace("kube-system")
    assert debug.max_duration == timedelta(hours=1)
    assert debug.reason.pattern is not None
    assert debug.reason.pattern.pattern == "^(INC|CHG)-[0-9]+"
    assert "sre-oncall" in debug.approval.auto_approve.groups
    exec_profile = policy.profiles[1]
    assert exec_profile.role.kind is RoleKind.INLINE
    assert [str(r) for r in exec_profile.role.rules][1] == 'verbs=[create, get] apiGroups=[""] resources=[pods/exec]'
    assert policy.guardrails["safe-exec"].exec is not None
    assert policy.profiles[2].break_glass is not None


def test_minimal_policy_loads_and_positions_are_one_based(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(MINIMAL)
    assert load_policy_file(path).profiles[0].name == "payments-debug"


def test_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"cannot read policy file .*nope.yaml: No such file"):
        load_policy_file(tmp_path / "nope.yaml")


def test_unknown_field_names_line_column_and_suggests_the_right_one() -> None:
    issue = one(MINIMAL.replace("      maxDuration: 1h", "      maxDurration: 1h"))
    assert (issue.line, issue.column) == (10, 7)
    assert issue.path == "spec.profiles[0].maxDurration"
    assert issue.message == "unknown field 'maxDurration': did you mean 'maxDuration'?"
    assert str(issue).startswith("policy.yaml:10:7: spec.profiles[0].maxDurration: unknown field")


def test_bad_duration() -> None:
    issue = one(MINIMAL.replace("maxDuration: 1h", "maxDuration: 90x"))
    assert issue.path == "spec.profiles[0].maxDuration"
    assert "'90x' is not a duration: write it like 45s, 30m, 1h or 1h30m" in issue.message
    assert issue.line == 10


def test_max_duration_above_the_global_cap() -> None:
    issue = one(MINIMAL.replace("maxDuration: 1h", "maxDuration: 5h"))
    assert issue.path == "spec.profiles[0].maxDuration"
    assert "above the policy's cap spec.defaults.maxDuration (4h)" in issue.message


def test_default_duration_above_max_duration() -> None:
    issue = one(MINIMAL.replace("      maxDuration: 1h", "      maxDuration: 1h\n      defaultDuration: 2h"))
    assert issue.path == "spec.profiles[0].defaultDuration"
    assert "longer than this profile's maxDuration (1h)" in issue.message
    global_issue = one(MINIMAL.replace("defaultDuration: 30m", "defaultDuration: 5h"))
    assert global_issue.path == "spec.defaults.defaultDuration"


def test_duplicate_profile_names() -> None:
    doubled = MINIMAL.replace("  guardrails:\n    - name: no-destructive", "", 0)
    profile = doubled.split("  profiles:\n")[1].split("  guardrails:\n")[0]
    issue = one(doubled.replace(profile, profile + profile))
    assert issue.path == "spec.profiles[1].name"
    assert "already used by spec.profiles[0]" in issue.message
    assert issue.line == 15


def test_unknown_guardrail_name() -> None:
    issue = one(MINIMAL.replace("guardrails: [no-destructive]", "guardrails: [no-destructiv]"))
    assert issue.path == "spec.profiles[0].guardrails[0]"
    assert "guardrail 'no-destructiv' is not defined in spec.guardrails (defined: no-destructive)" in issue.message


def test_no_approvers_and_no_auto_approval() -> None:
    issue = one(MINIMAL.replace("        approvers: {groups: [payments-leads]}", "        required: 1"))
    assert issue.path == "spec.profiles[0].approval"
    assert "nobody can approve this profile" in issue.message


def test_invalid_regex() -> None:
    issue = one(MINIMAL.replace("      maxDuration: 1h", '      maxDuration: 1h\n      reason: {pattern: "^(INC"}'))
    assert issue.path == "spec.profiles[0].reason.pattern"
    assert "not a valid regular expression" in issue.message


def test_several_errors_are_reported_at_once_in_file_order() -> None:
    text = (
        MINIMAL.replace("maxDuration: 1h", "maxDuration: 90x")
        .replace("guardrails: [no-destructive]", "guardrails: [nope]\n      colour: blue")
        .replace("metadata: {name: test}", "metadata: {name: Test}")
    )
    found = problems(text)
    assert [i.path for i in found] == ["metadata.name", "spec.profiles[0].colour"]  # structure first
    fixed = text.replace("      colour: blue\n", "").replace("name: Test", "name: test")
    assert [i.path for i in problems(fixed)] == ["spec.profiles[0].maxDuration", "spec.profiles[0].guardrails[0]"]


def test_exactly_one_role_source() -> None:
    issue = one(MINIMAL.replace("      clusterRole: view\n", ""))
    assert issue.path == "spec.profiles[0]"
    assert "set exactly one of clusterRole, role or rules (none is set)" in issue.message
    both = one(
        MINIMAL.replace(
            "      clusterRole: view\n", "      clusterRole: view\n      rules: [{verbs: [get], resources: [pods]}]\n"
        )
    )
    assert "(found clusterRole, rules)" in both.message


def test_wrong_types_and_values() -> None:
    found = problems(
        MINIMAL.replace("required: 1", "").replace(
            "approvers: {groups: [payments-leads]}", "approvers: {groups: payments-leads}\n        required: two"
        )
    )
    messages = {i.path: i.message for i in found}
    assert messages["spec.profiles[0].approval.approvers.groups"].startswith("must be a list")
    assert messages["spec.profiles[0].approval.required"] == "must be a whole number"


def test_wrong_kind_and_api_version() -> None:
    found = problems(MINIMAL.replace("kind: AccessPolicy", "kind: Policy").replace("v1alpha1", "v1"))
    assert {i.path for i in found} == {"apiVersion", "kind"}
    assert all(i.line in (1, 2) for i in found)


def test_yaml_syntax_error_has_a_position() -> None:
    issue = one("apiVersion: kubejit.io/v1alpha1\nkind: [AccessPolicy\n")
    assert issue.message.startswith("not valid YAML")
    assert issue.line >= 2


def test_duplicate_yaml_keys_are_refused() -> None:
    issue = one(MINIMAL.replace("      maxDuration: 1h", "      maxDuration: 1h\n      maxDuration: 2h"))
    assert issue.path == "spec.profiles[0].maxDuration"
    assert "appears twice" in issue.message
    assert issue.line == 11


def test_empty_file() -> None:
    assert one("").message == "the file is empty"


def test_bad_namespace_pattern_and_risk_ids() -> None:
    text = MINIMAL.replace("namespaces: [payments]", "namespaces: [Payments_1]").replace(
        "      guardrails: [no-destructive]",
        "      guardrails: [no-destructive]\n      allowRisks: [{id: secret-read, justification: x}]",
    )
    messages = {i.path: i.message for i in problems(text)}
    assert "not a namespace name or pattern" in messages["spec.profiles[0].namespaces[0]"]
    assert "'secret-read' is not a risk id" in messages["spec.profiles[0].allowRisks[0].id"]


def test_bad_exec_pattern() -> None:
    text = MINIMAL.replace(
        "        - {verbs: [delete], resources: [namespaces], message: refused}",
        '        - {verbs: [delete], resources: [namespaces], message: refused}\n      exec: {denyCommands: [""]}',
    )
    issue = one(text)
    assert issue.path == "spec.guardrails[0].exec.denyCommands[0]"


def test_error_message_lists_every_problem() -> None:
    with pytest.raises(PolicyError) as raised:
        load_policy(MINIMAL.replace("maxDuration: 1h", "maxDuration: 90x").replace("[no-destructive]", "[x]"), "p.yaml")
    text = str(raised.value)
    assert text.startswith("p.yaml: 2 problems in the policy:\n")
    assert "p.yaml:10:7: spec.profiles[0].maxDuration" in text
