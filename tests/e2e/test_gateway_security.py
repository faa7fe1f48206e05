"""The gateway under attack: the tricks that broke other Kubernetes proxies (REFERENCES.md, "Proxies: bugs others
had"), each tried against a real gateway in front of a real kube-apiserver.

Most requests here are written by hand (HTTP/1.1 over TLS with ``ssl`` + ``socket``), because kubectl would
normalize exactly what is being tested. "Never forwarded" and "impersonating alice only" are proved with
kube-apiserver's own audit log: every request the gateway forwards is logged there as user ``kubejit-gateway``.
A request with a fresh marker is sent afterwards and awaited in that log, so the log is known to be written
past the requests being checked. What kube-apiserver's audit log cannot show (``X-Remote-*`` headers) is
checked on an in-process gateway whose upstream records the headers it receives.

Exec commands aim ``rm`` at a scratch directory rather than ``/``: kwok runs exec'd commands on this machine,
so a regression shows as a missing directory instead of harm to the machine running the tests.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Event, Thread
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from kubejit.adapters.grant_tokens import GrantTokenSigner
from kubejit.adapters.kube.upstream import Upstream
from kubejit.adapters.policy_file import load_policy
from kubejit.devcluster.cluster import DevCluster
from kubejit.domain.errors import Unauthenticated
from kubejit.domain.grant_book import ActiveGrant, GrantBook
from kubejit.domain.policy import Profile
from kubejit.domain.rbac import PolicyRule
from kubejit.entrypoints.gateway.proxy import Gateway, Identity, Sessions
from kubejit.services.gateway_access import GatewayAccess
from tests.conftest import eventually
from tests.e2e.gateway_env import GATEWAY_POLICY, GatewayEnv, gateway_env, module_gateway_env, namespace_with_pod

GATEWAY_USER = "kubejit-gateway"

# ---- fixtures -----------------------------------------------------------------------------------------------------


env = module_gateway_env("gwsec")


def make_namespace(cluster: DevCluster, *, with_pod: bool) -> str:
    return namespace_with_pod(cluster, pod=with_pod)


@pytest.fixture(scope="module")
def ns(devcluster: DevCluster) -> Iterator[str]:
    """A namespace with a running pod ``app``, shared by the module's tests."""
    name = make_namespace(devcluster, with_pod=True)
    yield name
    devcluster.kubectl("delete", "namespace", name, "--wait=false")


@dataclass(frozen=True)
class Session:
    grant: str
    token: str


@pytest.fixture(scope="module")
def alice(env: GatewayEnv, ns: str) -> Session:
    """alice's ``ops`` grant on ``ns`` (get/list configmaps and pods, exec and port-forward)."""
    grant = env.grant("alice", "ops", ns)
    return Session(grant, env.token("alice", grant))


# ---- raw HTTP/1.1 over TLS ----------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    def status_object(self) -> dict[str, Any]:
        """The Kubernetes ``Status`` in the body."""
        document: dict[str, Any] = json.loads(self.body)
        assert document["kind"] == "Status", document
        assert document["code"] == self.status, document
        return document


class RawClient:
    """One TLS connection to the gateway; requests are written byte for byte as given."""

    def __init__(self, env: GatewayEnv) -> None:
        url = urlsplit(env.gateway.url)
        assert url.hostname is not None
        assert url.port is not None
        context = ssl.create_default_context(cafile=str(env.gateway_ca))
        context.set_alpn_protocols(["http/1.1"])
        self.host = f"{url.hostname}:{url.port}"
        self.sock = context.wrap_socket(
            socket.create_connection((url.hostname, url.port), timeout=10), server_hostname=url.hostname
        )
        self.buffer = b""

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()

    def send(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError):
            data = b""
        self.buffer += data
        return bool(data)

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise ConnectionError("the gateway closed the connection in the middle of a response")
        taken, self.buffer = self.buffer[:size], self.buffer[size:]
        return taken

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError("the gateway closed the connection in the middle of a response")
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def response(self) -> Reply:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"the gateway closed the connection without a response ({self.buffer!r})")
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in header_lines)]
        reply = Reply(status, headers, b"")
        if status == 101 or 100 <= status < 200:
            return reply
        if reply.header("content-length"):
            reply.body = self._take(int(reply.header("content-length")[0]))
        elif "chunked" in ",".join(reply.header("transfer-encoding")).lower():
            while size := int(self._line().split(b";")[0], 16):
                reply.body += self._take(size)
                self._take(2)
            while self._line():  # trailers
                pass
        else:
            while self._fill():
                pass
            reply.body, self.buffer = self.buffer, b""
        return reply

    def request(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"") -> Reply:
        self.send(method, target, headers, body)
        return self.response()

    def closed_by_server(self, timeout: float = 5.0) -> bool:
        """True if the gateway ends the connection (no further bytes; EOF) within ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            return not self._fill() and not self.buffer
        except TimeoutError:
            return False


def raw(env: GatewayEnv, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"") -> Reply:
    with RawClient(env) as client:
        return client.request(method, target, headers, body)


def bearer(token: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {token}")


# ---- kube-apiserver's audit log -----------------------------------------------------------------------------------


def apiserver_audit(cluster: DevCluster) -> list[dict[str, Any]]:
    events = []
    for line in (cluster.state_dir / "audit.log").read_text(errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # the line being written right now
            continue
    return events


def forwarded(cluster: DevCluster, fragment: str) -> list[dict[str, Any]]:
    """Requests the gateway sent to kube-apiserver whose URI contains ``fragment``."""
    return [
        event
        for event in apiserver_audit(cluster)
        if event.get("user", {}).get("username") == GATEWAY_USER and fragment in event.get("requestURI", "")
    ]


def flush_audit(env: GatewayEnv, ns: str, token: str) -> None:
    """Send a request with a fresh marker through the gateway and wait until kube-apiserver has logged it: what
    the gateway forwarded before it is in the log by then."""
    marker = f"sentinel-{uuid.uuid4().hex[:8]}"
    reply = raw(env, "GET", f"/api/v1/namespaces/{ns}/configmaps/{marker}", [bearer(token), ("Connection", "close")])
    assert reply.status == 404, reply
    assert eventually(lambda: bool(forwarded(env.cluster, marker)), timeout=10), "the sentinel was never logged"


# ---- 1. paths -----------------------------------------------------------------------------------------------------

NON_CANONICAL = {
    "dot-dot": "/api/v1/namespaces/{ns}/../kube-system/pods",
    "dot": "/api/v1/namespaces/{ns}/./pods",
    "double-slash": "/api/v1/namespaces/{ns}//pods",
    "leading-double-slash": "//api/v1/namespaces/{ns}/pods",
    "encoded-slash": "/api/v1/namespaces/{ns}%2F..%2Fkube-system/pods",
    "encoded-slash-in-name": "/api/v1/namespaces/{ns}/pods%2Fapp",
    "encoded-dot-dot": "/api/v1/namespaces/{ns}/%2e%2e/kube-system/pods",
    "mixed-case-encoded-dot-dot": "/api/v1/namespaces/{ns}/%2E./kube-system/pods",
    "upper-case-prefix": "/API/v1/namespaces/{ns}/pods",
    "backslash": "/api/v1/namespaces/{ns}\\..\\kube-system/pods",
    "encoded-backslash": "/api/v1/namespaces/{ns}/pods%5C..",
    "absolute-form": "https://127.0.0.1/api/v1/namespaces/{ns}/pods",
    "control-character": "/api/v1/namespaces/{ns}/pods\x01",
}


@pytest.fixture(scope="module")
def path_ns(devcluster: DevCluster) -> Iterator[str]:
    """A namespace that only the path tests use: any request the gateway forwards with it in its URI, other than a
    sentinel, is a non-canonical path that got through."""
    name = make_namespace(devcluster, with_pod=False)
    yield name
    devcluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def path_token(env: GatewayEnv, path_ns: str) -> str:
    return env.token("alice", env.grant("alice", "ops", path_ns))


@pytest.mark.parametrize("trick", list(NON_CANONICAL), ids=list(NON_CANONICAL))
def test_non_canonical_paths_are_refused_and_never_forwarded(
    env: GatewayEnv, path_ns: str, path_token: str, trick: str
) -> None:
    token = path_token
    target = NON_CANONICAL[trick].format(ns=path_ns)
    with RawClient(env) as client:
        reply = client.request("GET", target, [bearer(token)])
        assert reply.status == 400, reply
        assert reply.status_object()["reason"] == "BadRequest"
        assert reply.header("connection") == ["close"]
        assert client.closed_by_server()
    flush_audit(env, path_ns, token)
    leaked = [e["requestURI"] for e in forwarded(env.cluster, path_ns) if "sentinel-" not in e["requestURI"]] + [
        e["requestURI"] for e in forwarded(env.cluster, "/namespaces/kube-system/")
    ]
    assert leaked == [], f"the gateway forwarded {leaked}"


# ---- 2. headers ---------------------------------------------------------------------------------------------------


def test_client_impersonation_headers_are_replaced_by_the_grants_user(env: GatewayEnv, ns: str, alice: Session) -> None:
    marker = f"imp-{uuid.uuid4().hex[:8]}"
    reply = raw(
        env,
        "GET",
        f"/api/v1/namespaces/{ns}/configmaps/{marker}",
        [
            bearer(alice.token),
            ("Impersonate-User", "erin"),
            ("Impersonate-Group", "system:masters"),
            ("Impersonate-Group", "platform-admins"),
            ("Impersonate-Uid", "0"),
            ("Impersonate-Extra-Scopes", "everything"),
            ("X-Remote-User", "erin"),
            ("X-Remote-Group", "system:masters"),
            ("Connection", "close"),
        ],
    )
    assert reply.status == 404, reply  # forwarded, as alice, who may get configmaps there
    assert eventually(lambda: bool(forwarded(env.cluster, marker)), timeout=10)
    for event in forwarded(env.cluster, marker):
        assert event["user"]["username"] == GATEWAY_USER
        impersonated = event["impersonatedUser"]
        assert impersonated["username"] == "alice", impersonated
        assert "system:masters" not in impersonated.get("groups", []), impersonated
        assert "platform-admins" not in impersonated.get("groups", []), impersonated
        assert "payments-devs" in impersonated["groups"], impersonated
        assert "uid" not in impersonated, impersonated
        assert "extra" not in impersonated, impersonated


@pytest.mark.parametrize(
    "connection",
    ["Impersonate-User", "close, Impersonate-Group", "keep-alive, Authorization", "Upgrade, X-Remote-User"],
)
def test_a_connection_header_naming_other_headers_is_refused(
    env: GatewayEnv, ns: str, alice: Session, connection: str
) -> None:
    marker = f"hop-{uuid.uuid4().hex[:8]}"
    reply = raw(
        env,
        "GET",
        f"/api/v1/namespaces/{ns}/configmaps/{marker}",
        [bearer(alice.token), ("Connection", connection), ("Impersonate-User", "erin")],
    )
    assert reply.status == 400, reply
    assert "Connection header names" in reply.status_object()["message"]
    flush_audit(env, ns, alice.token)
    assert forwarded(env.cluster, marker) == []


@pytest.mark.parametrize("second", ["same", "other-bearer", "basic"])
def test_a_second_authorization_header_is_refused(env: GatewayEnv, ns: str, alice: Session, second: str) -> None:
    other = {
        "same": f"Bearer {alice.token}",
        "other-bearer": f"Bearer {env.cluster.mint_token('erin')}",
        "basic": "Basic " + base64.b64encode(b"erin:secret").decode(),
    }[second]
    marker = f"auth-{uuid.uuid4().hex[:8]}"
    reply = raw(
        env, "GET", f"/api/v1/namespaces/{ns}/configmaps/{marker}", [bearer(alice.token), ("Authorization", other)]
    )
    assert reply.status == 401, reply
    assert reply.status_object()["reason"] == "Unauthorized"
    assert reply.header("www-authenticate")
    flush_audit(env, ns, alice.token)
    assert forwarded(env.cluster, marker) == []


def test_a_refused_request_leaves_the_connection_usable(env: GatewayEnv, ns: str, alice: Session) -> None:
    """kubectl apply sends a refused GET (namespaces) and then a POST on the same kept-alive connection; Go does not
    retry a POST, so a gateway that closed the connection after a refusal without saying so lost the POST."""
    with RawClient(env) as client:
        refused = client.request("GET", f"/api/v1/namespaces/{ns}/secrets", [bearer(alice.token)])
        assert refused.status == 403, refused
        assert refused.header("connection") != ["close"]
        created = client.request(
            "POST",
            f"/api/v1/namespaces/{ns}/configmaps",
            [bearer(alice.token), ("Content-Type", "application/json")],
            json.dumps({"metadata": {"name": f"after-{uuid.uuid4().hex[:8]}"}, "data": {"a": "b"}}).encode(),
        )
        assert created.status == 201, created


def test_pipelined_requests_each_get_their_own_checked_answer(env: GatewayEnv, ns: str, alice: Session) -> None:
    """Three requests in one write: forwarded, refused, forwarded. Each is checked on its own and answered in
    order on the same connection (the parser is renewed after a forwarded response, keeping what followed)."""
    with RawClient(env) as client:
        client.send("GET", f"/api/v1/namespaces/{ns}/pods/app", [bearer(alice.token)])
        client.send("GET", f"/api/v1/namespaces/{ns}/secrets", [bearer(alice.token)])
        client.send("GET", f"/api/v1/namespaces/{ns}/pods", [bearer(alice.token)])
        first, second, third = client.response(), client.response(), client.response()
    assert first.status == 200, first
    assert json.loads(first.body)["metadata"]["name"] == "app"
    assert second.status == 403, second
    assert "does not allow list on secrets" in second.status_object()["message"]
    assert third.status == 200, third
    assert json.loads(third.body)["kind"] == "PodList"


def test_a_client_asking_to_close_gets_its_answer_then_the_end(env: GatewayEnv, ns: str, alice: Session) -> None:
    with RawClient(env) as client:
        reply = client.request(
            "GET", f"/api/v1/namespaces/{ns}/pods/app", [bearer(alice.token), ("Connection", "close")]
        )
        assert reply.status == 200, reply
        assert reply.header("connection") == ["close"]
        assert client.closed_by_server()


def test_x_remote_and_impersonation_headers_never_reach_the_upstream(devcluster: DevCluster, tmp_path: Path) -> None:
    """kube-apiserver's audit log does not show ``X-Remote-*`` headers (it trusts them only from a front proxy's
    client certificate), so this runs the gateway's proxy in-process against an upstream that records what it
    receives, with the grant, policy and token check the real gateway would use."""
    heads = asyncio.run(_forward_through_gateway(devcluster, tmp_path))
    assert len(heads) == 1, heads
    request_line, headers = heads[0]
    assert request_line == "GET /api/v1/namespaces/g-1/configmaps/settings HTTP/1.1"
    names = [name for name, _ in headers]
    assert not [n for n in names if n.startswith("x-remote-")], headers
    assert [v for n, v in headers if n == "impersonate-user"] == ["alice"]
    assert [v for n, v in headers if n == "impersonate-group"] == ["payments-devs"]
    assert not [n for n in names if n.startswith("impersonate-") and n not in ("impersonate-user", "impersonate-group")]
    assert [v for n, v in headers if n == "authorization"] == ["Bearer the-gateways-own-credential"]
    assert "x-kept" in names  # ordinary headers pass


async def _forward_through_gateway(cluster: DevCluster, directory: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    received: list[tuple[str, list[tuple[str, str]]]] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *lines = head.rstrip("\r\n").split("\r\n")
        received.append(
            (request_line, [(k.strip().lower(), v.strip()) for k, _, v in (x.partition(":") for x in lines)])
        )
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(*(str(p) for p in cluster.ca.issue_server("recorder").write(directory, "recorder")))
    upstream_server = await asyncio.start_server(record, "127.0.0.1", 0, ssl=serving)
    trust = ssl.create_default_context(cadata=cluster.ca.cert_pem.decode())
    upstream = Upstream(
        "127.0.0.1", upstream_server.sockets[0].getsockname()[1], trust, bearer="the-gateways-own-credential"
    )
    now = datetime.now(UTC)
    book = GrantBook(timedelta(seconds=30))
    book.replace(
        [ActiveGrant("g1", "alice", frozenset({"payments-devs"}), "ops", ("g-1",), now + timedelta(hours=1))], now
    )

    def authenticate(token: str, moment: datetime) -> Identity:
        if token != "alices-grant-token":
            raise Unauthenticated("unknown token")
        return Identity("alice", frozenset({"payments-devs"}), "g1")

    def rules(profile: Profile) -> tuple[PolicyRule, ...]:
        return profile.role.rules or ()

    policy = load_policy(GATEWAY_POLICY)
    gateway = Gateway(
        access=GatewayAccess(lambda: policy, rules, book),
        authenticate=authenticate,
        upstream=upstream,
        emit=lambda _event: None,
        sessions=Sessions(),
        now=lambda: datetime.now(UTC),
    )
    front = await asyncio.start_server(gateway.serve_connection, "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", front.sockets[0].getsockname()[1])
        writer.write(
            b"GET /api/v1/namespaces/g-1/configmaps/settings HTTP/1.1\r\nHost: gw\r\n"
            b"Authorization: Bearer alices-grant-token\r\n"
            b"X-Remote-User: erin\r\nX-Remote-Group: system:masters\r\nX-Remote-Extra-Scopes: all\r\n"
            b"Impersonate-User: erin\r\nImpersonate-Group: system:masters\r\nImpersonate-Uid: 0\r\n"
            b"Impersonate-Extra-Scopes: all\r\nX-Kept: yes\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=10)
        assert response.startswith(b"HTTP/1.1 200 "), response
        writer.close()
        await writer.wait_closed()
    finally:
        front.close()
        await front.wait_closed()
        upstream_server.close()
        await upstream_server.wait_closed()
    return received


# ---- 3. upgrades --------------------------------------------------------------------------------------------------


def websocket_exec(ns: str, marker: str) -> tuple[str, list[tuple[str, str]]]:
    target = f"/api/v1/namespaces/{ns}/pods/app/exec?command=echo&command={marker}&stdout=true&stderr=true"
    return target, [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", base64.b64encode(uuid.uuid4().bytes).decode()),
        ("Sec-WebSocket-Protocol", "v5.channel.k8s.io"),
    ]


@pytest.mark.parametrize("credential", ["none", "debug-grant"])
def test_a_websocket_exec_is_refused_before_any_upgrade(
    env: GatewayEnv, ns: str, alice: Session, credential: str
) -> None:
    marker = f"ws-{uuid.uuid4().hex[:8]}"
    target, headers = websocket_exec(ns, marker)
    expected = 401
    if credential == "debug-grant":  # view: no pods/exec
        headers.append(bearer(env.token("alice", env.grant("alice", "debug", ns))))
        expected = 403
    with RawClient(env) as client:
        reply = client.request("GET", target, headers)
        assert reply.status == expected, reply
        assert reply.header("upgrade") == []
        message = reply.status_object()["message"]
        if credential == "debug-grant":
            assert "does not allow create on pods/exec" in message, message
        assert reply.header("connection") == ["close"]
        # Nothing after the refusal is read as WebSocket frames, nor as another request: the connection ends.
        assert client.closed_by_server()
    flush_audit(env, ns, alice.token)
    assert forwarded(env.cluster, marker) == []


# ---- 4. exec command lines ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("websocket", ["true", "false"], ids=["websocket", "spdy"])
def test_exec_command_smuggling_is_refused(
    env: GatewayEnv, ns: str, alice: Session, websocket: str, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    (victim / "inside").mkdir(parents=True)
    config = env.kubeconfig(alice.token, ns)
    transport = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": websocket}
    for command in (
        ["/bin/rm", "-fr", f"{victim}"],
        ["sh", "-c", f"rm -rf {victim}"],
        ["env", "rm", "-rf", f"{victim}"],
        ["sh", "-c", f"true && rm -rf {victim}"],
        ["sh", "-c", f"echo $(rm -rf {victim})"],
        ["bash", "-c", f"cd / ; r''m -r -f {victim}"],
        ["sh", "-c", f"rm --recursive --force {victim}"],
    ):
        refused = env.kubectl(config, "exec", "app", "--", *command, env=transport)
        assert refused.returncode != 0, command
        assert "this command is refused in a JIT session" in refused.stderr, (command, refused.stderr)
        assert (victim / "inside").is_dir(), f"{command} ran"
    allowed = env.kubectl(config, "exec", "app", "--", "sh", "-c", "echo still-$((6*7))", env=transport)
    assert allowed.stdout == "still-42\n", allowed.stderr


# ---- 5. tokens ----------------------------------------------------------------------------------------------------


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def broker_signer(env: GatewayEnv) -> GrantTokenSigner:
    """The broker's own signing key (BrokerConfig gateway.signingKeyFile: gateway-signing.key beside its config)."""
    return GrantTokenSigner(ECKey.import_key((env.directory / "gateway-signing.key").read_bytes()))


def pods(env: GatewayEnv, ns: str, token: str) -> Reply:
    return raw(env, "GET", f"/api/v1/namespaces/{ns}/pods", [bearer(token), ("Connection", "close")])


def assert_unauthenticated(reply: Reply, phrase: str = "") -> None:
    assert reply.status == 401, reply
    status = reply.status_object()
    assert status["reason"] == "Unauthorized"
    assert phrase in status["message"], status["message"]
    assert reply.header("www-authenticate") == ['Bearer realm="kubejit"']


def test_the_broker_key_signs_tokens_the_gateway_accepts(env: GatewayEnv, ns: str, alice: Session) -> None:
    """The control for the forgeries below: a token re-signed with the broker's key file is accepted, so each
    refusal that follows is about the one thing that was changed."""
    resigned = broker_signer(env).sign(claims_of(alice.token))
    assert pods(env, ns, resigned).status == 200


def test_an_expired_grant_token_is_refused(env: GatewayEnv, ns: str, alice: Session) -> None:
    claims = claims_of(alice.token)
    past = int(time.time()) - 600
    claims.update({"iat": past - 60, "nbf": past - 65, "exp": past})
    assert_unauthenticated(pods(env, ns, broker_signer(env).sign(claims)), "expired")


def test_a_token_accepted_before_is_refused_once_it_expires(env: GatewayEnv, ns: str, alice: Session) -> None:
    """The gateway remembers tokens whose signature it has verified; expiry must still be checked each time."""
    claims = claims_of(alice.token)
    now = int(time.time())
    claims.update({"iat": now, "nbf": now - 5, "exp": now + 2})
    short_lived = broker_signer(env).sign(claims)
    assert pods(env, ns, short_lived).status == 200
    assert pods(env, ns, short_lived).status == 200
    time.sleep(max(0.0, now + 2.1 - time.time()))
    assert_unauthenticated(pods(env, ns, short_lived), "expired")


def test_a_tampered_grant_token_is_refused(env: GatewayEnv, ns: str, alice: Session) -> None:
    header, _, signature = alice.token.split(".")
    claims = claims_of(alice.token)
    claims.update({"exp": claims["exp"] + 86400, "groups": [*claims["groups"], "system:masters"]})
    tampered = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    assert_unauthenticated(pods(env, ns, tampered), "not valid")
    assert pods(env, ns, alice.token).status == 200


def test_a_token_signed_by_another_key_with_the_brokers_kid_is_refused(
    env: GatewayEnv, ns: str, alice: Session
) -> None:
    impostor = GrantTokenSigner(ECKey.generate_key("P-256"))
    impostor.kid = broker_signer(env).kid
    forged = impostor.sign(claims_of(alice.token))
    assert json.loads(base64.urlsafe_b64decode(forged.split(".")[0] + "=="))["kid"] == impostor.kid
    assert_unauthenticated(pods(env, ns, forged), "not valid")


@pytest.mark.parametrize("algorithm", ["none", "HS256"])
def test_unsigned_and_hmac_tokens_are_refused(env: GatewayEnv, ns: str, alice: Session, algorithm: str) -> None:
    """``alg: none`` and HS256 keyed with the broker's public key (the classic algorithm confusion)."""
    claims = claims_of(alice.token)
    kid = broker_signer(env).kid
    if algorithm == "none":
        forged = f"{b64(json.dumps({'alg': 'none', 'kid': kid}).encode())}.{b64(json.dumps(claims).encode())}."
    else:
        public = json.dumps(broker_signer(env).public_jwks()["keys"][0]).encode()
        forged = jwt.encode({"alg": "HS256", "kid": kid}, claims, OctKey.import_key(public), algorithms=["HS256"])
    assert_unauthenticated(pods(env, ns, forged))


def test_a_token_of_a_revoked_grant_is_refused(env: GatewayEnv, ns: str) -> None:
    grant = env.grant("alice", "ops", ns)
    token = env.token("alice", grant)
    assert pods(env, ns, token).status == 200
    with env.api("alice") as me:
        me.post(f"/api/v1/requests/{grant}/revoke", json={}).raise_for_status()
    revoked_at = time.monotonic()
    assert eventually(lambda: pods(env, ns, token).status == 401, timeout=5)
    refused_after = time.monotonic() - revoked_at
    assert refused_after < 1.0, f"the revoked grant's token was refused only {refused_after:.2f}s after the revoke"
    assert_unauthenticated(pods(env, ns, token), "not active")


def test_a_token_whose_subject_is_not_the_grants_user_is_refused(env: GatewayEnv, ns: str, alice: Session) -> None:
    """Even signed by the broker's key, a token naming bob for alice's grant is refused: the grant's user, not the
    token's, is who the gateway would impersonate, so a mismatch means the token is not bob's to use."""
    claims = claims_of(alice.token)
    claims.update({"sub": "bob", "groups": ["payments-leads"]})
    assert_unauthenticated(pods(env, ns, broker_signer(env).sign(claims)), "another user's grant")


def test_an_id_token_is_refused_when_the_gateway_accepts_no_oidc(env: GatewayEnv, ns: str) -> None:
    config = yaml.safe_load(env.gateway.config.read_text())
    assert not config.get("oidc")
    id_token = env.cluster.mint_token("erin")  # kube-apiserver itself accepts this token
    assert_unauthenticated(pods(env, ns, id_token), "not valid")


# ---- 6. port-forward and revoke -----------------------------------------------------------------------------------


def free_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def echo(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        received = b""
        deadline = time.monotonic() + 10
        while not received.endswith(data) and time.monotonic() < deadline:
            chunk = conn.recv(64)
            if not chunk:
                break
            received += chunk
        return received


def test_a_port_forward_is_closed_within_1_5s_of_a_revoke(env: GatewayEnv, ns: str) -> None:
    grant = env.grant("alice", "ops", ns)
    config = env.kubeconfig(env.token("alice", grant), ns)
    port = free_local_port()
    argv = [str(env.cluster.bins.kubectl), "--kubeconfig", str(config), "port-forward", "pod/app", f"{port}:8080"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as forward:
        try:
            assert forward.stdout is not None
            assert "Forwarding from" in forward.stdout.readline()
            assert echo(port, b"ping\n") == b"ping\n"  # through the gateway to the pod's echo port
            with env.api("alice") as me:
                me.post(f"/api/v1/requests/{grant}/revoke", json={}).raise_for_status()
            revoked_at = time.monotonic()
            forward.wait(timeout=10)
            closed_after = time.monotonic() - revoked_at
            assert closed_after < 1.5, f"the port-forward was closed {closed_after:.2f}s after the revoke"
        finally:
            forward.kill()
            forward.communicate()
    assert eventually(
        lambda: any(e["kind"] == "activity.request" and e["data"].get("closed") for e in env.audit(grant)), timeout=10
    )


# ---- 7. failing closed --------------------------------------------------------------------------------------------


def poll_until_refused(env: GatewayEnv, ns: str, token: str, deadline: float) -> tuple[float, Reply]:
    """Send requests until one is refused with 503; return when (monotonic) and the reply."""
    while True:
        reply = pods(env, ns, token)
        if reply.status == 503 or time.monotonic() > deadline:
            return time.monotonic(), reply
        assert reply.status == 200, reply
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["hung", "killed"])
def test_a_gateway_whose_broker_goes_silent_refuses_within_staleness(
    devcluster: DevCluster, ns: str, tmp_path: Path, how: str
) -> None:
    """``hung``: the broker process is stopped (SIGSTOP), its connections stay open and say nothing, the case a
    gateway waiting for a connection error would miss; ``killed``: it is gone. (A graceful ``broker.stop()`` is
    not "stops answering": uvicorn keeps the open grant stream, heartbeats included, until it is killed.)"""
    with gateway_env(devcluster, tmp_path, name="gwstale", max_staleness="2s") as stale:
        token = stale.token("alice", stale.grant("alice", "ops", ns))
        assert pods(stale, ns, token).status == 200
        config = stale.kubeconfig(token, ns)
        watch = subprocess.Popen(
            [str(devcluster.bins.kubectl), "--kubeconfig", str(config), "get", "pods", "-w", "-o", "name"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        pid = stale.broker.process.pid
        assert pid is not None
        try:
            assert watch.stdout is not None
            assert watch.stdout.readline().strip() == "pod/app"  # the watch is open through the gateway
            if how == "hung":
                os.kill(pid, signal.SIGSTOP)
            else:
                stale.broker.process.kill()
            silent = time.monotonic()
            refused_at, reply = poll_until_refused(stale, ns, token, silent + 10)
            watch.wait(timeout=10)  # open streams are closed too: a revoke may be what the broker cannot say
            assert time.monotonic() - silent <= 2 + 1.5, "the open watch outlived the broker's silence"
            assert reply.status == 503, reply
            assert reply.status_object()["reason"] == "ServiceUnavailable"
            assert "has not heard from the kubejit broker" in reply.status_object()["message"]
            assert refused_at - silent <= 2 + 1, f"refused {refused_at - silent:.2f}s after the broker went silent"
            time.sleep(0.5)
            assert pods(stale, ns, token).status == 503  # and stays refused
        finally:
            watch.kill()
            watch.communicate()
            if how == "hung":
                os.kill(pid, signal.SIGCONT)


class FakeBroker:
    """Stands in for a stopped broker on its address: the grant stream stays fresh (heartbeats with the grants
    the real broker last published), but activity is never accepted."""

    def __init__(self, url: str, grants: str) -> None:
        stop = self.stop = Event()
        followed = self.followed = Event()
        self.activity_posts = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path == "/api/v1/gateway/grants":
                    body = grants.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self.wfile.write(f"event: grants\ndata: {grants}\n\n".encode())
                    self.wfile.flush()
                    followed.set()
                    while not stop.wait(0.25):
                        self.wfile.write(b"event: heartbeat\ndata: {}\n\n")
                        self.wfile.flush()
                except OSError:
                    return
                self.close_connection = True

            def do_POST(self) -> None:
                fake.activity_posts += 1
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = b'{"detail": "the audit store is down"}'
                self.send_response(503)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        address = urlsplit(url)
        assert address.port is not None
        self.server = ThreadingHTTPServer(("127.0.0.1", address.port), Handler)
        self.server.daemon_threads = True
        self.thread = Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def test_a_fail_closed_gateway_refuses_while_activity_cannot_be_delivered(
    devcluster: DevCluster, ns: str, tmp_path: Path
) -> None:
    with gateway_env(devcluster, tmp_path, name="gwaudit", audit_max_delay="1s") as audited:
        grant = audited.grant("alice", "ops", ns)
        token = audited.token("alice", grant)
        assert pods(audited, ns, token).status == 200
        assert eventually(lambda: any(e["kind"].startswith("activity.") for e in audited.audit(grant)), timeout=10)
        secret = (audited.directory / "gateway" / "gateway-client.token").read_text().strip()
        grants = httpx.get(
            f"{audited.broker.url}/api/v1/gateway/grants", headers={"Authorization": f"Bearer {secret}"}, timeout=10
        )
        grants.raise_for_status()
        audited.broker.process.kill()  # at once: a graceful stop keeps serving the grant stream for a while
        fake = FakeBroker(audited.broker.url, grants.text)
        try:
            assert fake.followed.wait(timeout=10)  # the gateway follows the fake's grant stream
            first = time.monotonic()
            assert pods(audited, ns, token).status == 200  # recorded, then never delivered
            refused_at, reply = poll_until_refused(audited, ns, token, first + 10)
            assert reply.status == 503, reply
            assert "cannot record activity" in reply.status_object()["message"]
            assert refused_at - first <= 1 + 1, f"refused {refused_at - first:.2f}s after the undelivered request"
            assert fake.activity_posts > 0  # it kept trying
        finally:
            fake.close()


def test_concurrent_first_requests_of_a_new_grant_all_pass(env: GatewayEnv, ns: str) -> None:
    """kubectl's first command after a grant sends its discovery requests in parallel, before the broker's stream
    has announced the grant: every one of them must wait for the gateway's read of the grants, not only the
    first (a request that found a read already under way used to be refused as "not active")."""
    for _ in range(3):
        token = env.token("alice", env.grant("alice", "ops", ns))
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda t: pods(env, ns, t).status, [token] * 16))
        assert statuses == [200] * 16, statuses
