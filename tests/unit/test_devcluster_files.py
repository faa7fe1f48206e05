"""The dev control plane's PKI, issuer and config files, checked without starting anything."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import httpx
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from joserfc import jwt
from joserfc.jwk import KeySet

from kubejit.devcluster import configfiles
from kubejit.devcluster.oidc import DevOIDCIssuer
from kubejit.devcluster.pki import CertificateAuthority
from kubejit.devcluster.users import DEV_USERS, dev_user


def test_server_certificates_name_loopback_and_client_certificates_carry_groups() -> None:
    ca = CertificateAuthority()
    server = x509.load_pem_x509_certificate(ca.issue_server("api").cert_pem)
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage

    client = x509.load_pem_x509_certificate(ca.issue_client("kubejit-admin", ("system:masters",)).cert_pem)
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubejit-admin"
    assert client.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    client.verify_directly_issued_by(ca_cert)


def test_private_keys_are_written_owner_only(tmp_path: Path) -> None:
    cert, key = CertificateAuthority().issue_client("x").write(tmp_path, "x")
    assert key.stat().st_mode & 0o077 == 0
    assert cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")


def test_issuer_tokens_verify_against_its_published_key_set(tmp_path: Path) -> None:
    ca = CertificateAuthority()
    issuer = DevOIDCIssuer(ca.issue_server("oidc"), tmp_path)
    issuer.start()
    try:
        trust = ssl.create_default_context(cadata=ca.cert_pem.decode())
        discovery = httpx.get(f"{issuer.url}/.well-known/openid-configuration", verify=trust).json()
        key_set = httpx.get(discovery["jwks_uri"], verify=trust).json()
        missing = httpx.get(f"{issuer.url}/token", verify=trust)
    finally:
        issuer.stop()
    assert missing.status_code == 404
    assert discovery["issuer"] == issuer.url
    token = issuer.mint(dev_user("carol"), ttl_seconds=60, now=1_000)
    decoded = jwt.decode(token, KeySet.import_key_set(key_set))
    assert decoded.claims["sub"] == "carol"
    assert decoded.claims["groups"] == ["payments-leads", "sre-oncall"]
    assert decoded.claims["aud"] == "kubejit"
    assert decoded.claims["iss"] == issuer.url
    assert decoded.claims["exp"] - decoded.claims["iat"] == 60


def test_dev_users_match_the_design() -> None:
    assert {u.name: u.groups for u in DEV_USERS} == {
        "alice": ("payments-devs",),
        "bob": ("payments-leads",),
        "carol": ("payments-leads", "sre-oncall"),
        "dave": ("auditors",),
        "erin": ("platform-admins",),
    }


def test_authentication_configuration_maps_sub_and_groups_without_prefixes() -> None:
    document = configfiles.authentication_configuration("https://127.0.0.1:1", "kubejit", b"PEM")
    (authenticator,) = document["jwt"]
    assert authenticator["issuer"] == {
        "url": "https://127.0.0.1:1",
        "audiences": ["kubejit"],
        "certificateAuthority": "PEM",
    }
    assert authenticator["claimMappings"]["username"] == {"claim": "sub", "prefix": ""}
    assert authenticator["claimMappings"]["groups"] == {"claim": "groups", "prefix": ""}


def test_kubeconfig_is_self_contained(tmp_path: Path) -> None:
    path = configfiles.write_yaml(
        tmp_path / "k",
        configfiles.kubeconfig("https://127.0.0.1:6443", b"CA", "alice", {"token": "t"}),
        private=True,
    )
    loaded = yaml.safe_load(path.read_text())
    assert loaded["current-context"] == "alice@kubejit-dev"
    assert loaded["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:6443",
        "certificate-authority-data": "Q0E=",
    }
    assert loaded["users"][0]["user"] == {"token": "t"}
    assert path.stat().st_mode & 0o077 == 0
