"""In-cluster config without a cluster: the ServiceAccount directory is a temp dir, the environment a dict, and
time a counter, so the token's re-reads are seen without waiting."""

from __future__ import annotations

import os
from pathlib import Path

import httpx2
import pytest

from kubejit.adapters.kube import client as kube_client
from kubejit.adapters.kube.client import make_client
from kubejit.adapters.kube.in_cluster import ServiceAccountToken, load_in_cluster
from kubejit.adapters.kube.upstream_config import upstream_in_cluster
from kubejit.config import KubernetesConfig
from kubejit.devcluster.pki import CertificateAuthority
from kubejit.domain.errors import InvalidInput, Unavailable

ENV = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def service_account_dir(tmp_path: Path, token: str = "token-1") -> Path:  # noqa: S107 (a fake token)
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    (directory / "token").write_text(token + "\n")
    (directory / "ca.crt").write_bytes(CertificateAuthority().cert_pem)
    (directory / "namespace").write_text("kubejit-system")
    return directory


def rotate(directory: Path, token: str) -> None:
    """As the kubelet does: the new token is written beside the old one and swapped in."""
    fresh = directory / ".token.new"
    fresh.write_text(token)
    fresh.replace(directory / "token")


def test_the_config_comes_from_the_environment_and_the_directory(tmp_path: Path) -> None:
    found = load_in_cluster(service_account_dir(tmp_path), ENV)
    assert (found.server_url, found.namespace, found.token.current()) == (
        "https://10.96.0.1:443",
        "kubejit-system",
        "token-1",
    )
    ipv6 = load_in_cluster(tmp_path / "serviceaccount", {**ENV, "KUBERNETES_SERVICE_HOST": "fd00::1"})
    assert ipv6.server_url == "https://[fd00::1]:443"


def test_the_client_is_built_from_them(tmp_path: Path) -> None:
    client = make_client(None, service_account_dir=service_account_dir(tmp_path), environ=ENV)
    assert client.namespace == "kubejit-system"
    client.close()


def test_outside_a_cluster_the_error_says_to_set_a_kubeconfig(tmp_path: Path) -> None:
    directory = service_account_dir(tmp_path)
    with pytest.raises(InvalidInput, match=r"not running in a cluster: KUBERNETES_SERVICE_HOST and .*kubeconfig"):
        load_in_cluster(directory, {})
    with pytest.raises(InvalidInput, match=r"not running in a cluster: KUBERNETES_SERVICE_PORT not set"):
        make_client(None, service_account_dir=directory, environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1"})
    with pytest.raises(InvalidInput, match="is not a port number"):
        load_in_cluster(directory, {**ENV, "KUBERNETES_SERVICE_PORT": "https"})
    (directory / "token").unlink()
    with pytest.raises(InvalidInput, match=r"no ServiceAccount token in .*serviceaccount.*kubernetes.kubeconfig"):
        load_in_cluster(directory, ENV)


def test_the_directory_is_configurable_and_defaults_to_the_kubelets_mount() -> None:
    assert KubernetesConfig().service_account_dir == Path("/var/run/secrets/kubernetes.io/serviceaccount")
    assert KubernetesConfig.model_validate({"serviceAccountDir": "/sa"}).service_account_dir == Path("/sa")


def test_a_rotated_token_is_used_at_the_next_call(tmp_path: Path) -> None:
    directory = service_account_dir(tmp_path)
    token = ServiceAccountToken(directory / "token")
    assert token.current() == "token-1"
    rotate(directory, "token-2")
    assert token.current() == "token-2"


def test_an_unchanged_looking_file_is_still_re_read_after_a_minute(tmp_path: Path) -> None:
    directory = service_account_dir(tmp_path)
    now = [0.0]
    token = ServiceAccountToken(directory / "token", clock=lambda: now[0])
    assert token.current() == "token-1"
    before = (directory / "token").stat()
    (directory / "token").write_text("token-9\n")  # same size, same inode; the mtime put back
    os.utime(directory / "token", ns=(before.st_atime_ns, before.st_mtime_ns))
    now[0] = 59.0
    assert token.current() == "token-1"
    now[0] = 61.0
    assert token.current() == "token-9"


def test_a_token_file_gone_for_a_moment_keeps_the_last_token_but_none_at_all_is_unavailable(tmp_path: Path) -> None:
    directory = service_account_dir(tmp_path)
    token = ServiceAccountToken(directory / "token")
    assert token.current() == "token-1"
    (directory / "token").unlink()
    assert token.current() == "token-1"
    assert token.reread() == "token-1"
    with pytest.raises(Unavailable, match="cannot read the ServiceAccount token"):
        ServiceAccountToken(directory / "token").current()


def test_a_token_with_a_line_break_inside_is_refused(tmp_path: Path) -> None:
    directory = service_account_dir(tmp_path, token="one\ntwo")
    with pytest.raises(InvalidInput, match="contains a line break"):
        load_in_cluster(directory, ENV)


def test_after_a_401_the_token_is_re_read_and_the_request_sent_once_more(tmp_path: Path) -> None:
    directory = service_account_dir(tmp_path)
    accepted = ["token-1"]
    sent: list[str] = []

    def apiserver(request: httpx2.Request) -> httpx2.Response:  # a fake kube-apiserver: one valid token
        sent.append(request.headers["Authorization"])
        return httpx2.Response(200 if request.headers["Authorization"] == f"Bearer {accepted[0]}" else 401)

    transport = kube_client._ServiceAccountBearer(
        httpx2.MockTransport(apiserver), ServiceAccountToken(directory / "token")
    )
    with httpx2.Client(transport=transport, base_url="https://10.96.0.1") as http:
        assert http.get("/api").status_code == 200
        # Rewritten in place within the same mtime tick: the stat looks the same, the 401 makes it re-read.
        before = (directory / "token").stat()
        (directory / "token").write_text("token-2\n")
        os.utime(directory / "token", ns=(before.st_atime_ns, before.st_mtime_ns))
        accepted[0] = "token-2"
        assert http.get("/api").status_code == 200
        assert sent == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]
        accepted[0] = "token-3"  # the file still holds token-2: the 401 stands, no second try with the same token
        assert http.get("/api").status_code == 401
        assert sent[3:] == ["Bearer token-2"]


def test_the_gateways_upstream_presents_the_current_token(tmp_path: Path) -> None:
    directory = service_account_dir(tmp_path)
    upstream = upstream_in_cluster(directory, ENV)
    assert (upstream.host, upstream.port, upstream.bearer) == ("10.96.0.1", 443, "token-1")
    rotate(directory, "token-2")
    assert upstream.bearer == "token-2"
