"""Several OIDC issuers in one broker (or gateway) config: their names and prefixes must keep identities apart,
and every refusal names both issuers and says what to change."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubejit.config import issuer_name_from, load_config, load_gateway_config
from kubejit.domain.errors import InvalidInput

HEAD = """\
apiVersion: kubejit.io/v1alpha1
kind: BrokerConfig
policyFile: policy.yaml
oidc:
"""
STAFF = '  - {name: staff, issuer: "https://idp.example", usernamePrefix: "staff:", groupsPrefix: "staff:"}\n'
CI = '  - {name: ci, issuer: "https://ci.example", usernamePrefix: "ci:", groupsPrefix: "ci:"}\n'


def load(tmp_path: Path, *entries: str) -> object:
    path = tmp_path / "kubejit.yaml"
    path.write_text(HEAD + "".join(entries))
    return load_config(path)


def refusal(tmp_path: Path, *entries: str) -> str:
    with pytest.raises(InvalidInput) as raised:
        load(tmp_path, *entries)
    return str(raised.value)


def test_two_issuers_with_disjoint_prefixes_are_accepted(tmp_path: Path) -> None:
    config = load(tmp_path, STAFF, CI)
    assert [i.name for i in config.oidc] == ["staff", "ci"]  # type: ignore[attr-defined]


def test_with_two_issuers_each_needs_both_prefixes(tmp_path: Path) -> None:
    message = refusal(tmp_path, STAFF, '  - {name: ci, issuer: "https://ci.example", usernamePrefix: "ci:"}\n')
    assert "oidc:" in message
    assert "issuer 'ci' has no groupsPrefix" in message


def test_a_prefix_that_starts_another_issuers_prefix_is_refused_naming_both(tmp_path: Path) -> None:
    overlapping = '  - {name: ci, issuer: "https://ci.example", usernamePrefix: "staff:ci:", groupsPrefix: "ci:"}\n'
    message = refusal(tmp_path, STAFF, overlapping)
    assert "usernamePrefixes of issuers 'staff' ('staff:') and 'ci' ('staff:ci:') overlap" in message
    same = '  - {name: ci, issuer: "https://ci.example", usernamePrefix: "ci:", groupsPrefix: "staff:"}\n'
    assert "groupsPrefixes of issuers 'staff' ('staff:') and 'ci' ('staff:') overlap" in refusal(tmp_path, STAFF, same)


def test_names_and_issuer_urls_are_unique(tmp_path: Path) -> None:
    twin = CI.replace("name: ci", "name: staff")
    assert "oidc[0] and oidc[1] have the same name 'staff'" in refusal(tmp_path, STAFF, twin)
    again = CI.replace("https://ci.example", "https://idp.example")
    assert "have the same issuer 'https://idp.example'" in refusal(tmp_path, STAFF, again)


def test_a_prefix_into_system_names_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, '  - {issuer: "https://idp.example", usernamePrefix: "sys"}\n')
    assert "oidc.0.usernamePrefix" in message
    assert "reserved system:" in message


def test_the_default_name_comes_from_the_issuer_host() -> None:
    assert issuer_name_from("https://login.microsoftonline.com/tenant/v2.0") == "login-microsoftonline-com"
    assert issuer_name_from("https://127.0.0.1:8443/realms/kubejit") == "127-0-0-1-8443"


def test_policy_claims_and_login_settings_are_checked(tmp_path: Path) -> None:
    bad_claim = '  - {issuer: "https://ci.example", policyClaims: ["kubernetes.io//namespace"]}\n'
    assert "is not a claim name" in refusal(tmp_path, bad_claim)
    no_openid = '  - {issuer: "https://idp.example", login: {clientId: kubejit, scopes: [email]}}\n'
    assert "must include 'openid'" in refusal(tmp_path, no_openid)
    no_client = '  - {issuer: "https://idp.example", login: {}}\n'
    assert "oidc.0.login.clientId" in refusal(tmp_path, no_client)


def test_the_gateway_keeps_issuers_apart_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "apiVersion: kubejit.io/v1alpha1\nkind: GatewayConfig\npolicyFile: policy.yaml\n"
        "listen: {tlsCertFile: c.pem, tlsKeyFile: k.pem}\nkubernetes: {}\n"
        "broker: {url: 'https://broker', clientTokenFile: secret}\n"
        "oidc:\n" + STAFF + '  - {name: ci, issuer: "https://ci.example"}\n'
    )
    with pytest.raises(InvalidInput, match="issuer 'ci' has no usernamePrefix"):
        load_gateway_config(path)
