"""The CLI's connection to the broker: where it is, who the caller is, and errors in kubejit's terms.

The server comes from ``--server`` or ``KUBEJIT_SERVER``, else the last ``kubejit login``'s; the token from
``--token`` or ``KUBEJIT_TOKEN``, else the stored session of that server (renewed when it is about to expire:
``kubejit.login_sessions``). The options are declared once, in ``broker_options``. HTTP statuses map back to
kubejit's errors through the one error table read backwards (so the CLI exits with DESIGN.md's codes), and an
unreachable broker is exit code 3.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from kubejit import login_sessions
from kubejit.domain.errors import InvalidInput, Unavailable, error_for_status
from kubejit.transport import NOT_AN_HTTP_URL, PLAIN_HTTP_OFF_LOOPBACK, TrustError, trust_context, url_problem


def not_a_url_message(server: str) -> str:
    """What to type instead of ``server``, which is no http(s) URL (most often: the scheme is missing)."""
    if "://" not in server and server.strip():
        bare = server.strip().rstrip("/")
        plain = url_problem(f"http://{bare}") is None  # a broker on this machine may be plain http
        also = f" (or http://{bare}, as for the demo's broker on this machine)" if plain else ""
        return f"--server {server!r} has no scheme: write https://{bare}{also}"
    return f"--server {server!r} must be an https:// URL (or http:// for a broker on this machine)"


def unreachable(server: str, error: httpx.TransportError) -> Unavailable:
    """The broker did not answer; when TLS is why, say what the URL or the trust should be instead."""
    reason = _tls_failure(error)
    if reason is None:
        return Unavailable(f"cannot reach the kubejit broker at {server}: {error}")
    if isinstance(reason, ssl.SSLCertVerificationError):
        return Unavailable(
            f"the broker at {server} has a TLS certificate this machine does not trust ({reason.verify_message}): "
            "pass the CA that signed it with --certificate-authority FILE or KUBEJIT_CA"
        )
    plain = server.replace("https://", "http://", 1)
    hint = (
        f"; if it is a plain-http broker on this machine (like the demo's), use {plain}"
        if url_problem(plain) is None
        else ""
    )
    return Unavailable(
        f"the broker at {server} does not speak TLS (https) on that port ({reason.reason or reason}): check the URL"
        f"{hint}"
    )


def _tls_failure(error: BaseException) -> ssl.SSLError | None:
    """The ssl error somewhere in ``error``'s chain of causes, if TLS is what failed."""
    seen: BaseException | None = error
    for _ in range(10):  # httpx wraps httpcore's error, which wraps the ssl module's
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@dataclass
class BrokerClient:
    server: str
    token: str
    ca_file: str | None = None

    @classmethod
    def from_options(
        cls,
        server: str | None,
        token: str | None,
        ca_file: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> BrokerClient:
        """The client for these options: the server (or the last login's) and the token (or its session's)."""
        env = os.environ if environ is None else environ
        anonymous = cls.anonymous(server, ca_file, environ=env)
        if token:
            return cls(anonymous.server, token, anonymous.ca_file)
        if login_sessions.find_session(anonymous.server, env) is None:  # nobody to be: a usage error, as ever
            raise InvalidInput(
                "say who you are: --token TOKEN or KUBEJIT_TOKEN (an ID token from your IdP), or sign in once with "
                f"kubejit login --server {anonymous.server}"
            )
        return cls(anonymous.server, login_sessions.current_id_token(anonymous.server, env), anonymous.ca_file)

    @classmethod
    def anonymous(
        cls, server: str | None, ca_file: str | None = None, *, environ: Mapping[str, str] | None = None
    ) -> BrokerClient:
        """A client that sends no token (for the broker's public endpoints, like the login options)."""
        env = os.environ if environ is None else environ
        server = server or login_sessions.current_server(env)
        if not server:
            raise InvalidInput(
                "say which broker to use: --server URL or KUBEJIT_SERVER (or sign in once with "
                "kubejit login --server URL, which remembers it)"
            )
        problem = url_problem(server)
        if problem == NOT_AN_HTTP_URL:
            raise InvalidInput(not_a_url_message(server))
        if problem == PLAIN_HTTP_OFF_LOOPBACK:
            raise InvalidInput(
                f"--server {server!r}: your ID token would travel in clear text; use https:// (plain http is "
                "accepted only for a broker on this machine)"
            )
        return cls(server.rstrip("/"), "", ca_file or env.get("KUBEJIT_CA"))

    def with_token(self, token: str) -> BrokerClient:
        """The same connection as another caller (``kubejit login`` asks whoami with the new ID token)."""
        return BrokerClient(self.server, token, self.ca_file)

    def _client(self) -> httpx.Client:
        verify: ssl.SSLContext | bool = True
        if self.ca_file:
            try:
                verify = trust_context(cafile=self.ca_file)
            except TrustError as error:
                raise InvalidInput(f"--certificate-authority / KUBEJIT_CA {self.ca_file!r}: {error}") from None
        return httpx.Client(
            base_url=self.server,
            headers={"Authorization": f"Bearer {self.token}"} if self.token else {},
            timeout=httpx.Timeout(30.0, connect=5.0),
            verify=verify,
        )

    def call(self, method: str, path: str, *, json: Any = None, params: Any = None, headers: Any = None) -> Any:
        try:
            with self._client() as client:
                response = client.request(method, path, json=json, params=params, headers=headers)
        except httpx.TransportError as error:
            raise unreachable(self.server, error) from error
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
            raise unreachable(self.server, error) from error

    def _result(self, response: httpx.Response) -> Any:
        if response.status_code < 400:
            return response.json() if response.content else None
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"the broker answered {response.status_code}: {response.text[:200]}"
        raise error_for_status(response.status_code)(message)
