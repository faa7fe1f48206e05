"""``GET /api/v1/login/options``: public, never cached, and listing only the issuers with login settings, as the
broker's config names them (with the CA the broker trusts for each)."""

from __future__ import annotations

import base64
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

from fastapi.testclient import TestClient

from kubejit.config import load_config
from kubejit.entrypoints.api.app import create_app

if TYPE_CHECKING:
    from kubejit.bootstrap import Broker

CONFIG = """\
apiVersion: kubejit.io/v1alpha1
kind: BrokerConfig
policyFile: policy.yaml
oidc:
  - name: staff
    issuer: https://idp.example/realms/x
    caFile: idp-ca.pem
    usernamePrefix: "staff:"
    groupsPrefix: "staff:"
    login: {clientId: kubejit}
  - issuer: https://accounts.google.com
    usernamePrefix: "google:"
    groupsPrefix: "google:"
    usernameClaim: email
    login: {clientId: 123.apps.googleusercontent.com, clientSecret: not-really-secret, scopes: [openid, email]}
  - name: ci
    issuer: https://token.actions.githubusercontent.com
    usernamePrefix: "ci:"
    groupsPrefix: "ci:"
    policyClaims: [repository, ref]
"""


def client_for(tmp_path: Path) -> TestClient:
    (tmp_path / "idp-ca.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nxyz\n-----END CERTIFICATE-----\n")
    path = tmp_path / "kubejit.yaml"
    path.write_text(CONFIG)
    broker = SimpleNamespace(config=load_config(path))
    return TestClient(create_app(cast("Broker", broker)))


def test_login_options_list_the_issuers_with_login_settings_without_a_token(tmp_path: Path) -> None:
    answer = client_for(tmp_path).get("/api/v1/login/options")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    staff, google = answer.json()["issuers"]
    assert staff == {
        "name": "staff",
        "issuer": "https://idp.example/realms/x",
        "clientId": "kubejit",
        "scopes": ["openid", "profile", "email", "groups", "offline_access"],
        "clientSecret": None,
        "certificateAuthorityData": base64.b64encode((tmp_path / "idp-ca.pem").read_bytes()).decode(),
        "usernamePrefix": "staff:",
        "groupsPrefix": "staff:",
    }
    assert google["name"] == "accounts-google-com"  # derived from the host
    assert (google["clientSecret"], google["scopes"], google["certificateAuthorityData"]) == (
        "not-really-secret",
        ["openid", "email"],
        None,
    )


def test_a_token_is_neither_needed_nor_looked_at(tmp_path: Path) -> None:
    client = client_for(tmp_path)
    answer = client.get("/api/v1/login/options", headers={"Authorization": "Bearer garbage"})
    assert answer.status_code == 200
