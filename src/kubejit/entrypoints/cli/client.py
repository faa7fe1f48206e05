"""The CLI's connection to the broker: where it is, who the caller is, and errors in kubejit's terms.

The server comes from ``--server`` or ``KUBEJIT_SERVER``, the token from ``--token`` or ``KUBEJIT_TOKEN``;
HTTP statuses map back to kubejit's errors (so the CLI exits with DESIGN.md's codes), and an unreachable
broker is exit code 3.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer

from kubejit.domain.errors import (
    Conflict,
    InvalidInput,
    KubejitError,
    NotFound,
    Refused,
    Unauthenticated,
    Unavailable,
)

_ERRORS: dict[int, type[KubejitError]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: Refused,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
    503: Unavailable,
}

ServerOption = Annotated[
    str | None, typer.Option("--server", envvar="KUBEJIT_SERVER", help="The broker's URL.", show_envvar=True)
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="KUBEJIT_TOKEN", help="Your ID token.", show_envvar=True, show_default=False),
]
CaOption = Annotated[
    str | None,
    typer.Option("--certificate-authority", envvar="KUBEJIT_CA", help="CA bundle (PEM file) for an HTTPS broker."),
]


@dataclass
class BrokerClient:
    server: str
    token: str
    ca_file: str | None = None

    @classmethod
    def from_options(cls, server: str | None, token: str | None, ca_file: str | None = None) -> BrokerClient:
        if not server:
            raise InvalidInput("say which broker to use: --server URL or KUBEJIT_SERVER")
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"--server {server!r} must be an https:// URL")
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "::1", "localhost"):
            raise InvalidInput(
                f"--server {server!r}: your ID token would travel in clear text; use https:// (plain http is "
                "accepted only for a broker on this machine)"
            )
        if not token:
            raise InvalidInput("say who you are: --token TOKEN or KUBEJIT_TOKEN (an ID token from your IdP)")
        return cls(server.rstrip("/"), token, ca_file or os.environ.get("KUBEJIT_CA"))

    def _client(self) -> httpx.Client:
        verify: ssl.SSLContext | bool = True
        if self.ca_file:
            verify = ssl.create_default_context(cafile=self.ca_file)
        return httpx.Client(
            base_url=self.server,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=httpx.Timeout(30.0, connect=5.0),
            verify=verify,
        )

    def call(self, method: str, path: str, *, json: Any = None, params: Any = None, headers: Any = None) -> Any:
        try:
            with self._client() as client:
                response = client.request(method, path, json=json, params=params, headers=headers)
        except httpx.TransportError as error:
            raise Unavailable(f"cannot reach the kubejit broker at {self.server}: {error}") from error
        return self._result(response)

    def lines(self, path: str) -> Iterator[str]:
        """A streamed response, line by line (JSON lines export)."""
        try:
            with self._client() as client, client.stream("GET", path) as response:
                if response.status_code >= 400:
                    response.read()
                    self._result(response)
                yield from response.iter_lines()
        except httpx.TransportError as error:
            raise Unavailable(f"cannot reach the kubejit broker at {self.server}: {error}") from error

    def _result(self, response: httpx.Response) -> Any:
        if response.status_code < 400:
            return response.json() if response.content else None
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"the broker answered {response.status_code}: {response.text[:200]}"
        raise _ERRORS.get(response.status_code, Unavailable)(message)
