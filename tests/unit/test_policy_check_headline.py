"""`kubejit policy check`'s first line says "refused" when a profile is refused, not only "valid"."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubejit.entrypoints.cli.main import main

POLICY = """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {{name: headline}}
spec:
  profiles:
    - name: readers
      rules: [{{apiGroups: [""], resources: [pods], verbs: [get, list]}}]
      namespaces: [payments]
      requesters: {{groups: [payments-devs]}}
      approval: {{approvers: {{groups: [payments-leads]}}}}
{extra}"""
SECRETS_EVERYWHERE = """\
    - name: secret-readers
      rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list]}]
      namespaces: [payments]
      requesters: {groups: [payments-devs]}
      approval: {approvers: {groups: [payments-leads]}}
"""


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str) -> tuple[int | str | None, str]:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(extra=extra))
    try:
        code: int | str | None = main(["policy", "check", str(path)])
    except SystemExit as exited:
        code = exited.code
    return code, capsys.readouterr().out


def test_a_refused_profile_is_in_the_headline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out = check(tmp_path, capsys, SECRETS_EVERYWHERE)
    assert code == 1, out
    headline = out.splitlines()[0]
    assert "refused: 1 of 2 profiles cannot be used" in headline, out


def test_a_usable_policy_says_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out = check(tmp_path, capsys, "")
    assert code in (0, None), out
    assert out.splitlines()[0].endswith("policy 'headline' is valid (1 profile)"), out
    assert "refused" not in out.splitlines()[0]
