"""Claims rules and ``autoApprove.maxDuration`` in a policy file, with located errors; and the broker's check of
a policy against its issuers (prefixes in one place only; every claim named in a rule kept by some issuer)."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from kubejit.adapters.policy_file import load_policy
from kubejit.bootstrap import policy_for_issuers
from kubejit.config import OidcIssuerConfig
from kubejit.domain.errors import InvalidInput
from kubejit.domain.policy import ClaimMatch, LocatedIssue, PolicyError

CI_POLICY = """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: ci}
spec:
  profiles:
    - name: deploy
      clusterRole: edit
      namespaces: [payments]
      requesters:
        claims:
          - {repository: "acme/payments", ref: "refs/heads/main"}
          - {kubernetes.io/namespace: ci}
      approval:
        approvers: {groups: ["staff:payments-leads"]}
        autoApprove:
          claims: [{repository: "acme/*", ref: "refs/heads/main"}]
          maxDuration: 15m
      reason: {required: false}
"""


def problems(text: str) -> list[LocatedIssue]:
    with pytest.raises(PolicyError) as raised:
        load_policy(textwrap.dedent(text), "policy.yaml")
    return list(raised.value.issues)


def test_claims_rules_and_max_duration_are_read() -> None:
    profile = load_policy(CI_POLICY).profiles[0]
    assert profile.requesters.claims == (
        ClaimMatch((("ref", "refs/heads/main"), ("repository", "acme/payments"))),
        ClaimMatch((("kubernetes.io/namespace", "ci"),)),
    )
    assert profile.approval.auto_approve_max_duration == timedelta(minutes=15)
    assert "claims {ref=refs/heads/main, repository=acme/*}" in profile.approval.auto_approve.describe()


def test_an_empty_claims_rule_is_refused_where_it_is() -> None:
    found = problems(CI_POLICY.replace("{kubernetes.io/namespace: ci}", "{}"))
    assert [(i.line, i.path) for i in found] == [(12, "spec.profiles[0].requesters.claims[1]")]
    assert "would match every token" in found[0].message


def test_non_text_patterns_and_empty_patterns_are_refused() -> None:
    found = problems(CI_POLICY.replace('ref: "refs/heads/main"}\n          - {kube', "ref: 7}\n          - {kube"))
    assert [(i.line, i.path) for i in found] == [(11, "spec.profiles[0].requesters.claims[0].ref")]
    found = problems(CI_POLICY.replace("{kubernetes.io/namespace: ci}", '{kubernetes.io/namespace: ""}'))
    assert "the pattern is empty" in found[0].message


def test_a_bad_max_duration_and_one_without_subjects_are_refused() -> None:
    found = problems(CI_POLICY.replace("maxDuration: 15m", "maxDuration: soon"))
    assert [i.path for i in found] == ["spec.profiles[0].approval.autoApprove.maxDuration"]
    lonely = CI_POLICY.replace('          claims: [{repository: "acme/*", ref: "refs/heads/main"}]\n', "")
    found = problems(lonely)
    assert [i.path for i in found] == ["spec.profiles[0].approval.autoApprove.maxDuration"]
    assert "autoApprove names nobody" in found[0].message


def issuer(**changes: object) -> OidcIssuerConfig:
    return OidcIssuerConfig.model_validate({"issuer": "https://ci.example", **changes})


def test_the_broker_refuses_prefixes_in_both_the_policy_and_the_issuers(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(CI_POLICY.replace("spec:\n", 'spec:\n  identity: {usernamePrefix: "oidc:"}\n'))
    claims = ["repository", "ref", "kubernetes.io/namespace"]
    with pytest.raises(InvalidInput) as raised:
        policy_for_issuers(path, [issuer(name="ci", usernamePrefix="ci:", groupsPrefix="ci:", policyClaims=claims)])
    message = str(raised.value)
    assert "spec.identity sets usernamePrefix 'oidc:'" in message
    assert "'ci' (usernamePrefix 'ci:', groupsPrefix 'ci:')" in message
    assert "remove spec.identity from the policy" in message
    # Without issuer prefixes, the policy's prefixes are how the cluster's names are made (as before).
    assert policy_for_issuers(path, [issuer(policyClaims=claims)]).identity.username_prefix == "oidc:"


def test_the_broker_refuses_a_claim_no_issuer_keeps(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(CI_POLICY)
    with pytest.raises(InvalidInput) as raised:
        policy_for_issuers(path, [issuer(policyClaims=["repository", "ref"])])
    message = str(raised.value)
    assert "spec.profiles[0].requesters.claims[1]: claim 'kubernetes.io/namespace' is kept by no OIDC issuer" in message
    assert "add it to policyClaims" in message


def test_policy_explain_shows_claims_rules_and_the_auto_approval_cap(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from kubejit.entrypoints.cli.main import build_app

    app = build_app()

    path = tmp_path / "policy.yaml"
    path.write_text(
        CI_POLICY.replace("clusterRole: edit", "rules: [{apiGroups: [''], resources: [pods], verbs: [get]}]")
    )
    text = CliRunner().invoke(app, ["policy", "explain", str(path), "deploy"], env={"COLUMNS": "200"})
    assert text.exit_code == 0, text.output
    assert (
        "requested by  claims {ref=refs/heads/main, repository=acme/payments}, claims {kubernetes.io/namespace=ci}"
        in (text.output)
    )
    assert "auto-approved claims {ref=refs/heads/main, repository=acme/*} (for at most 15m)" in text.output
    answer = CliRunner().invoke(app, ["policy", "explain", str(path), "deploy", "-o", "json"])
    document = json.loads(answer.output)
    assert document["autoApprove"] == {
        "users": [],
        "groups": [],
        "claims": [{"ref": "refs/heads/main", "repository": "acme/*"}],
        "maxDuration": "15m",
    }
