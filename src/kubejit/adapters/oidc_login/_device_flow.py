"""The device authorization grant (RFC 8628): ``kubejit login --device`` on a machine without a browser.

The provider hands out a device code and a short user code; the person opens the verification URI on any
device, enters the code and signs in, while this process polls the token endpoint at the interval the provider
asked for (slower by 5 seconds after each ``slow_down``, RFC 8628 3.5). ``access_denied`` and
``expired_token`` (or the code's lifetime running out) end it with kubejit's errors. The device code is bound to
a PKCE verifier (RFC 7636 with RFC 8628, as Keycloak requires of a client that demands PKCE): the challenge goes
with the device authorization request, the verifier with every poll, so a leaked device code alone redeems
nothing. Time and sleeping are parameters, so the polling is tested without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuthError
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from kubejit.adapters.oidc_login._provider import (
    Provider,
    SignIn,
    checked_url,
    finish,
    idp_call,
    plain_client,
    refusal,
)
from kubejit.domain.errors import Unauthenticated, Unavailable

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL_SECONDS = 5
SLOW_DOWN_SECONDS = 5


@dataclass(frozen=True)
class DeviceCode:
    """What the person needs to approve this device: where to go and which code to enter."""

    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int
    device_code: str
    code_verifier: str = ""


def sign_in_with_device(
    provider: Provider,
    *,
    show: Callable[[DeviceCode], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SignIn:
    """Ask for a device code, ``show`` it, and poll until the person approved (or denied, or it expired)."""
    device = request_device_code(provider)
    show(device)
    deadline = clock() + device.expires_in
    interval = device.interval
    with provider.client() as client:
        while True:
            sleep(interval)
            if clock() > deadline:
                raise refusal(provider.issuer, "expired_token", "nobody approved it in time")
            try:
                with idp_call(provider.issuer, "poll for the device's tokens"):
                    return _poll(provider, client, device)
            except _Pending as pending:
                interval += SLOW_DOWN_SECONDS if pending.slow_down else 0


class _Pending(Exception):
    def __init__(self, *, slow_down: bool) -> None:
        super().__init__("authorization pending")
        self.slow_down = slow_down


def _poll(provider: Provider, client: Any, device: DeviceCode) -> SignIn:
    try:
        tokens = client.fetch_token(
            provider.token_endpoint,
            grant_type=DEVICE_GRANT,
            device_code=device.device_code,
            code_verifier=device.code_verifier,
        )
    except OAuthError as error:
        if error.error in ("authorization_pending", "slow_down"):
            raise _Pending(slow_down=error.error == "slow_down") from None
        raise
    return finish(provider, dict(tokens), nonce=None)


def request_device_code(provider: Provider) -> DeviceCode:
    """POST to the device authorization endpoint (RFC 8628 3.1) and read its answer (3.2)."""
    endpoint = provider.device_authorization_endpoint
    if endpoint is None:
        raise Unavailable(
            f"{provider.issuer.name} offers no device flow (no device_authorization_endpoint): "
            "run kubejit login without --device"
        )
    verifier = generate_token(64)
    form = {
        **provider.client_form(),
        "scope": " ".join(provider.issuer.scopes),
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    with idp_call(provider.issuer, "start the device flow"), plain_client(provider.issuer) as client:
        response = client.post(endpoint, data=form, headers={"Accept": "application/json"})
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise Unavailable(f"{provider.issuer.name}'s device endpoint answered HTTP {response.status_code}, not JSON")
    if "error" in answer:
        raise refusal(provider.issuer, str(answer["error"]), answer.get("error_description"))
    return _device_code(provider, answer, verifier)


def _device_code(provider: Provider, answer: dict[str, Any], verifier: str) -> DeviceCode:
    fields = {name: answer.get(name) for name in ("device_code", "user_code", "verification_uri")}
    if not all(isinstance(value, str) and value for value in fields.values()):
        raise Unauthenticated(f"{provider.issuer.name}'s device endpoint answered without a device or user code")
    complete = answer.get("verification_uri_complete")
    return DeviceCode(
        user_code=str(fields["user_code"]),
        verification_uri=checked_url(str(fields["verification_uri"]), "verification URI"),
        verification_uri_complete=checked_url(complete, "verification URI") if isinstance(complete, str) else None,
        expires_in=_seconds(answer.get("expires_in"), 600),
        interval=_seconds(answer.get("interval"), DEFAULT_INTERVAL_SECONDS),
        device_code=str(fields["device_code"]),
        code_verifier=verifier,
    )


def _seconds(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
