"""A headless browser for the tests that sign in through a real login page: Playwright driving Debian's Chromium.

``browser_page`` is a Playwright ``Page`` in a fresh Chromium profile (its own user-data directory, no cookies from
another test), launched from ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it) with
the switches that keep it quiet and offline except for what the test opens. Chromium trusts the system's roots
only, so a page served with a certificate from the dev control plane's CA needs that certificate named: a test
module overrides ``browser_trusted_certificates`` (a fixture returning PEM certificates), or a fixture calls
:func:`chromium_page` with them (as ``keycloak_page`` in tests/keycloak.py does). Chromium then accepts exactly
those certificates' public keys (``--ignore-certificate-errors-spki-list``), not any certificate at all.
Without Chromium the tests that need it fail with the command that installs it: they are never skipped in silence.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Page, sync_playwright

CHROMIUM = Path(os.environ.get("KUBEJIT_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
_TIMEOUT_MS = 30_000


def spki_pin(cert_pem: bytes) -> str:
    """base64(sha256(SubjectPublicKeyInfo)): how Chromium names a public key it should accept."""
    certificate = x509.load_pem_x509_certificate(cert_pem)
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def chromium_args(trusted_certificates: Sequence[bytes] = ()) -> list[str]:
    args = list(CHROMIUM_ARGS)
    if trusted_certificates:
        pins = ",".join(spki_pin(pem) for pem in trusted_certificates)
        args.append(f"--ignore-certificate-errors-spki-list={pins}")
    return args


@pytest.fixture
def browser_trusted_certificates() -> Sequence[bytes]:
    """PEM serving certificates Chromium should accept besides the system's roots (override to add some)."""
    return ()


@pytest.fixture
def browser_page(tmp_path: Path, browser_trusted_certificates: Sequence[bytes]) -> Iterator[Page]:
    """A page in a fresh headless Chromium profile; the browser is closed after the test."""
    with chromium_page(tmp_path / "chromium-profile", browser_trusted_certificates) as page:
        yield page


@contextmanager
def chromium_page(profile: Path, trusted_certificates: Sequence[bytes] = ()) -> Iterator[Page]:
    """Launch Chromium on a new profile directory ``profile`` and yield its first page; close it at exit."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's Chromium (`apt-get install chromium`) "
            "or point KUBEJIT_TEST_CHROMIUM at a Chromium binary",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=chromium_args(trusted_certificates),
        )
        context.set_default_timeout(_TIMEOUT_MS)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
