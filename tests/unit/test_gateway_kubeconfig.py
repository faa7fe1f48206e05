"""The gateway reaches kube-apiserver with credentials from its kubeconfig; credentials embedded in it are
written to a private temporary directory only while the TLS context loads them, and never left on disk."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

import pytest

from kubejit.adapters.kube.upstream_config import upstream_from_kubeconfig
from kubejit.devcluster import configfiles
from kubejit.devcluster.pki import CertificateAuthority
from kubejit.domain.errors import InvalidInput

CA = CertificateAuthority()


def write_kubeconfig(directory: Path, credentials: dict[str, str]) -> Path:
    document = configfiles.kubeconfig("https://127.0.0.1:6443", CA.cert_pem, "kubejit-gateway", credentials)
    return configfiles.write_yaml(directory / "gateway.kubeconfig", document, private=True)


def embedded_client_certificate(directory: Path) -> Path:
    pair = CA.issue_client("kubejit-gateway")
    return write_kubeconfig(directory, configfiles.client_cert_credentials(pair.cert_pem, pair.key_pem))


def test_embedded_credentials_leave_no_directory_behind(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    upstream = upstream_from_kubeconfig(embedded_client_certificate(tmp_path), scratch_parent=scratch)
    assert (upstream.host, upstream.port, upstream.bearer) == ("127.0.0.1", 6443, None)
    assert upstream.context.get_ca_certs()  # the cluster's CA was loaded before its file went away
    assert list(scratch.iterdir()) == []


def test_the_default_temporary_directory_is_cleaned_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``kubejit gateway`` does: the system's temporary directory holds no kubejit-gateway-* once it runs."""
    scratch = tmp_path / "system-tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    upstream_from_kubeconfig(embedded_client_certificate(tmp_path))
    assert list(scratch.iterdir()) == []


def test_credentials_that_do_not_load_leave_no_directory_behind(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    pair = CA.issue_client("kubejit-gateway")
    broken = write_kubeconfig(tmp_path, configfiles.client_cert_credentials(pair.cert_pem, b"not a key"))
    with pytest.raises(ssl.SSLError):
        upstream_from_kubeconfig(broken, scratch_parent=scratch)
    assert list(scratch.iterdir()) == []


def test_a_token_is_sent_as_the_gateways_bearer(tmp_path: Path) -> None:
    upstream = upstream_from_kubeconfig(write_kubeconfig(tmp_path, configfiles.token_credentials("gw-token")))
    assert upstream.bearer == "gw-token"


def test_a_token_with_a_line_break_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="line break"):
        upstream_from_kubeconfig(write_kubeconfig(tmp_path, configfiles.token_credentials("gw\r\nX-Evil: 1")))


def test_a_kubeconfig_without_credentials_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="client certificate or a token"):
        upstream_from_kubeconfig(write_kubeconfig(tmp_path, {}))
