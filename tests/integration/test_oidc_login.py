"""kubejit.adapters.oidc_login against the dev issuer's real flows, in process (no cluster needed).

The issuer's clock is a parameter, so expiry and polling pace are tested without waiting; the browser is a
thread that follows the URL ``kubejit login`` shows through the login page with httpx.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kubejit.adapters.oidc_login import LoginIssuer, Provider, discover, sign_in_with_browser, sign_in_with_device
from kubejit.adapters.oidc_login._device_flow import DeviceCode
from kubejit.devcluster.oidc import DevOIDCIssuer
from kubejit.devcluster.pki import CertificateAuthority
from kubejit.domain.errors import Refused, Unauthenticated, Unavailable
from kubejit.transport import trust_context


class Clock:
    def __init__(self) -> None:
        self.at = time.time()

    def __call__(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(ca: CertificateAuthority, tmp_path: Path, clock: Clock) -> Iterator[DevOIDCIssuer]:
    dev = DevOIDCIssuer(ca.issue_server("oidc-login-test"), tmp_path, clock=clock, id_token_ttl=600)
    dev.start()
    yield dev
    dev.stop()


def login_issuer(dev: DevOIDCIssuer, ca: CertificateAuthority, **changes: str) -> LoginIssuer:
    settings = {"name": "dev", "issuer": dev.url, "client_id": "kubejit", **changes}
    return LoginIssuer(ca_data=base64.b64encode(ca.cert_pem).decode(), **settings)  # type: ignore[arg-type]


@pytest.fixture
def provider(issuer: DevOIDCIssuer, ca: CertificateAuthority) -> Provider:
    return discover(login_issuer(issuer, ca))


def web(ca: CertificateAuthority) -> httpx.Client:
    return httpx.Client(verify=trust_context(cadata=ca.cert_pem), timeout=10)


def transaction(page: httpx.Response) -> str:
    found = re.search(r'name=transaction value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


class Browser:
    """Follows the URL it is shown, in a thread, and clicks a button (``user`` or Deny) on the login page."""

    def __init__(self, ca: CertificateAuthority, issuer_url: str, choice: dict[str, str]) -> None:
        self.ca, self.issuer_url, self.choice = ca, issuer_url, choice
        self.forged: int | None = None
        self.thread: threading.Thread | None = None

    def __call__(self, url: str) -> None:
        self.thread = threading.Thread(target=self._follow, args=(url,), daemon=True)
        self.thread.start()

    def _follow(self, url: str) -> None:
        redirect = re.search(r"redirect_uri=([^&]+)", url)
        assert redirect
        callback = httpx.URL(httpx.QueryParams(f"u={redirect.group(1)}")["u"])
        self.forged = httpx.get(callback.copy_with(params={"code": "forged", "state": "not-this-one"})).status_code
        with web(self.ca) as browser:
            page = browser.get(url)
            answer = browser.post(
                f"{self.issuer_url}/authorize", data={"transaction": transaction(page), **self.choice}
            )
            httpx.get(answer.headers["location"], timeout=10)


def test_the_code_flow_signs_in_and_ignores_an_answer_with_another_state(
    provider: Provider, issuer: DevOIDCIssuer, ca: CertificateAuthority
) -> None:
    shown: list[str] = []
    browser = Browser(ca, issuer.url, {"user": "alice"})

    def show(url: str) -> None:
        shown.append(url)
        browser(url)

    signed_in = sign_in_with_browser(provider, show=show)
    assert browser.forged == 400  # the forged redirect did not end the sign-in
    assert signed_in.claims["sub"] == "alice"
    assert signed_in.refresh_token
    url = httpx.URL(shown[0])
    assert url.params["code_challenge_method"] == "S256"
    assert url.params["code_challenge"]
    assert url.params["nonce"] == signed_in.claims["nonce"]
    assert url.params["redirect_uri"].startswith("http://127.0.0.1:")


def test_a_denied_sign_in_is_refused(provider: Provider, issuer: DevOIDCIssuer, ca: CertificateAuthority) -> None:
    with pytest.raises(Refused, match=r"was denied \(access_denied"):
        sign_in_with_browser(provider, show=Browser(ca, issuer.url, {"deny": "deny"}))


def test_discovery_naming_another_issuer_is_a_wrong_issuer_error(
    issuer: DevOIDCIssuer, ca: CertificateAuthority
) -> None:
    with pytest.raises(Unauthenticated, match="wrong issuer"):
        discover(login_issuer(issuer, ca, issuer=issuer.url + "/"))


def test_an_unreachable_idp_is_unavailable(ca: CertificateAuthority) -> None:
    unreachable = LoginIssuer(name="gone", issuer="https://127.0.0.1:9", client_id="kubejit")
    with pytest.raises(Unavailable, match=re.escape("cannot reach the identity provider at https://127.0.0.1:9")):
        discover(unreachable)


def approve(ca: CertificateAuthority, issuer_url: str, device: DeviceCode, choice: dict[str, str]) -> None:
    with web(ca) as browser:
        page = browser.get(device.verification_uri)
        form = {"transaction": transaction(page), "user_code": device.user_code, **choice}
        assert browser.post(f"{issuer_url}/device", data=form).status_code == 200


def test_the_device_flow_polls_at_the_pace_asked_and_slows_down(
    provider: Provider, issuer: DevOIDCIssuer, ca: CertificateAuthority, clock: Clock
) -> None:
    slept: list[float] = []
    devices: list[DeviceCode] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 1:
            clock.advance(seconds)  # on time: authorization_pending
        elif len(slept) == 2:
            pass  # too early: slow_down, and the interval grows by 5 s
        else:
            clock.advance(seconds)
            approve(ca, issuer.url, devices[0], {"user": "carol"})

    signed_in = sign_in_with_device(provider, show=devices.append, sleep=sleep)
    assert signed_in.claims["sub"] == "carol"
    interval = devices[0].interval
    assert slept == [interval, interval, interval + 5]


def test_a_denied_or_expired_device_code_is_a_clear_error(
    provider: Provider, issuer: DevOIDCIssuer, ca: CertificateAuthority, clock: Clock
) -> None:
    def deny(device: DeviceCode) -> None:
        approve(ca, issuer.url, device, {"deny": "deny"})

    with pytest.raises(Refused, match="access_denied"):
        sign_in_with_device(provider, show=deny, sleep=clock.advance)
    with pytest.raises(Unauthenticated, match="the device code expired before it was approved"):
        sign_in_with_device(provider, show=lambda _: None, sleep=lambda _: clock.advance(601))
