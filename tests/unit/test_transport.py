"""The transport rules: plain HTTP only to loopback, and trust only from the PEM bundle given (or the system)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from kubejit.transport import (
    NOT_AN_HTTP_URL,
    PLAIN_HTTP_OFF_LOOPBACK,
    TrustError,
    is_loopback,
    trust_context,
    url_problem,
)


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "127.3.4.5", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["", "0.0.0.0", "10.0.0.1", "example.com", "localhost.example.com", "::", "::ffff:1"])  # noqa: S104
def test_hosts_that_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://broker.example.com", None),
        ("https://10.0.0.1:8443/x", None),
        ("http://127.0.0.1:8080", None),
        ("http://localhost:8080", None),
        ("http://[::1]:8080", None),
        ("http://broker.example.com", PLAIN_HTTP_OFF_LOOPBACK),
        ("http://127.0.0.1.example.com", PLAIN_HTTP_OFF_LOOPBACK),
        ("http://0.0.0.0:80", PLAIN_HTTP_OFF_LOOPBACK),
        ("ftp://broker", NOT_AN_HTTP_URL),
        ("https://", NOT_AN_HTTP_URL),
        ("broker.example.com", NOT_AN_HTTP_URL),
        ("http://[::1", NOT_AN_HTTP_URL),
    ],
)
def test_url_problem(url: str, problem: str | None) -> None:
    assert url_problem(url) == problem


def test_without_a_bundle_the_system_roots_are_trusted() -> None:
    context = trust_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_a_bundle_is_the_only_trust(tmp_path: Path) -> None:
    from kubejit.devcluster.pki import CertificateAuthority

    ca = CertificateAuthority("kubejit-test-ca")
    bundle = tmp_path / "ca.crt"
    bundle.write_bytes(ca.cert_pem)
    for context in (trust_context(cafile=bundle), trust_context(cadata=ca.cert_pem)):
        names = [dict(item[0] for item in cert["subject"]).get("commonName") for cert in context.get_ca_certs()]
        assert names == ["kubejit-test-ca"]


def test_a_server_context_for_client_certificates() -> None:
    context = trust_context(for_clients=True)
    assert not context.check_hostname


@pytest.mark.parametrize(
    "kwargs",
    [{"cafile": "/nonexistent/ca.crt"}, {"cadata": "not a certificate"}, {"cadata": b"\xff\xfe"}],
)
def test_an_unusable_bundle_says_so(kwargs: dict[str, object]) -> None:
    with pytest.raises(TrustError, match="not a readable PEM certificate bundle"):
        trust_context(**kwargs)  # type: ignore[arg-type]


def test_a_file_and_text_together_are_refused() -> None:
    with pytest.raises(TrustError, match="not both"):
        trust_context(cafile="/x", cadata="y")
