"""``kubejit gateway --config FILE``: wire the gateway together and run it until SIGINT/SIGTERM.

It reads the policy (the same file the broker serves, for profiles and guardrails) and resolves each profile's
rules from the cluster once at start, connects to kube-apiserver with its own credentials from a kubeconfig,
fetches the broker's public keys, follows the broker's grant stream, and serves HTTPS.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import signal
import ssl
import sys
import tempfile
import time
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

if sys.platform != "win32":  # uvloop has no Windows build; the gateway runs on Linux
    import uvloop

from kubejit.adapters.grant_tokens import GrantTokenVerifier
from kubejit.adapters.kube.client import make_client
from kubejit.adapters.kube.role_rules import ClusterRoleRules
from kubejit.adapters.policy_file import load_policy_file
from kubejit.bootstrap import oidc_verifier
from kubejit.config import GatewayConfig
from kubejit.domain.errors import InvalidInput, Unauthenticated
from kubejit.domain.grant_token import GrantClaims
from kubejit.domain.policy import Profile
from kubejit.domain.rbac import PolicyRule
from kubejit.entrypoints.gateway.broker_link import BrokerLink
from kubejit.entrypoints.gateway.proxy import Gateway, Identity, Sessions, serve
from kubejit.entrypoints.gateway.upstream import Upstream, header_safe
from kubejit.services.gateway_access import GatewayAccess, GrantBook
from kubejit.services.policy_review import require_usable, review_policy

log = logging.getLogger("kubejit.gateway")


class VerifiedGrantTokens:
    """Grant tokens whose signature has been verified, so that it is verified once per token, not per request.

    kubectl sends the same token on every request until it expires, and the ES256 signature check is the
    costliest step the gateway takes per request. Only successful verifications are remembered, keyed by the
    exact token text; the expiry is checked again on every request (the one claim that changes with time),
    and the grant itself is looked up in the grant book every time, so a revoke still ends access at once.
    """

    def __init__(self, verifier: GrantTokenVerifier, size: int = 4096) -> None:
        self._verifier = verifier
        self._size = size
        self._verified: dict[str, GrantClaims] = {}

    def verify(self, token: str, now: datetime) -> GrantClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verifier.verify(token, now)  # raises Unauthenticated
            if len(self._verified) >= self._size:
                self._verified.pop(next(iter(self._verified)))  # the oldest entry
            self._verified[token] = claims
        elif now >= claims.expires_at:
            del self._verified[token]
            raise Unauthenticated(
                f"the grant token of {claims.grant_id} expired: kubectl will ask `kubejit token` for a new one"
            )
        return claims


def upstream_from_kubeconfig(path: Path, scratch: Path) -> Upstream:
    """kube-apiserver's address and the gateway's credentials (client certificate or token) from a kubeconfig."""
    try:
        document: Any = yaml.safe_load(path.read_text())
        context_name = document["current-context"]
        context = next(c["context"] for c in document["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in document["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in document["users"] if u["name"] == context["user"])
    except (OSError, KeyError, StopIteration, TypeError, yaml.YAMLError) as error:
        raise InvalidInput(f"cannot use kubeconfig {path}: {error}") from error

    def material(data_key: str, file_key: str, holder: dict[str, Any], name: str) -> Path | None:
        if data_key in holder:
            target = scratch / name
            target.touch(mode=0o600)
            target.write_bytes(base64.b64decode(holder[data_key]))
            return target
        if file_key in holder:
            return (path.parent / str(holder[file_key])).resolve()
        return None

    server = urlsplit(cluster["server"])
    if server.scheme != "https" or not server.hostname:
        raise InvalidInput(f"kubeconfig {path}: the server must be an https:// URL")
    context_tls = ssl.create_default_context()
    ca = material("certificate-authority-data", "certificate-authority", cluster, "upstream-ca.crt")
    if ca is not None:
        context_tls.load_verify_locations(ca)
    cert = material("client-certificate-data", "client-certificate", user, "gateway-client.crt")
    key = material("client-key-data", "client-key", user, "gateway-client.key")
    if cert is not None and key is not None:
        context_tls.load_cert_chain(cert, key)
    context_tls.set_alpn_protocols(["http/1.1"])
    token = user.get("token")
    if cert is None and not token:
        raise InvalidInput(f"kubeconfig {path}: the gateway needs a client certificate or a token")
    if token and not header_safe(str(token).encode()):
        raise InvalidInput(f"kubeconfig {path}: the user's token contains a line break or NUL; fix the file")
    return Upstream(server.hostname, server.port or 443, context_tls, bearer=token)


async def run(config: GatewayConfig, *, on_ready: Any = None) -> None:
    policy = load_policy_file(config.policy_file)
    client = make_client(config.kubernetes.kubeconfig, field_manager="kubejit-gateway")
    role_rules = ClusterRoleRules(client)
    require_usable(review_policy(policy, role_rules))
    resolved: dict[str, tuple[PolicyRule, ...]] = {p.name: role_rules.rules_of(p.role) or () for p in policy.profiles}

    def rules(profile: Profile) -> tuple[PolicyRule, ...]:
        return resolved.get(profile.name, ())

    scratch = Path(tempfile.mkdtemp(prefix="kubejit-gateway-"))
    upstream = upstream_from_kubeconfig(config.kubernetes.kubeconfig or Path("~/.kube/config").expanduser(), scratch)
    sessions = Sessions()
    book = GrantBook(config.broker.max_staleness)

    def close_sessions(grant: str, reason: str) -> None:
        closed = sessions.close_grant(grant, reason)
        if closed:
            log.info("closed %d open stream(s) of grant %s: %s", closed, grant, reason)

    verify: Any = ssl.create_default_context(cafile=str(config.broker.ca_file)) if config.broker.ca_file else True
    link = BrokerLink(
        url=config.broker.url.rstrip("/"),
        client_token=config.broker.client_token_file.read_text().strip(),
        verify=verify,
        book=book,
        on_gone=close_sessions,
        on_listed=sessions.listed,
        gateway_name=config.name,
        fail_closed=config.audit.fail_mode == "closed",
        max_delay=config.audit.max_delay,
    )
    keys = None
    while keys is None:
        try:
            keys = await link.public_keys()
        except Exception as error:  # the broker may start after the gateway: keep trying
            log.warning("waiting for the broker's public keys: %s", error)
            await asyncio.sleep(1)
    grant_tokens = VerifiedGrantTokens(GrantTokenVerifier(keys))
    oidc = oidc_verifier(config.oidc) if config.oidc else None

    def authenticate(token: str, now: datetime) -> Identity:
        try:
            claims = grant_tokens.verify(token, now)
        except Unauthenticated:
            if oidc is None:
                raise
            who = oidc.verify(token)
            return Identity(who.user, who.groups, None)
        return Identity(claims.user, claims.groups, claims.grant_id)

    gateway = Gateway(
        access=GatewayAccess(lambda: policy, rules, book),
        authenticate=authenticate,
        upstream=upstream,
        emit=link.emit,
        sessions=sessions,
        now=lambda: datetime.now(UTC),
        audit_ready=link.ready,
        refresh_grants=link.refresh,
    )

    def grant_end(grant_id: str) -> float | None:
        grant = book.grants.get(grant_id)
        return grant.ends_at.timestamp() if grant is not None else None

    async def cut_off_loop() -> None:
        while True:
            sessions.close_due(time.time(), grant_end)
            if sessions.streams and not book.fresh(datetime.now(UTC)):
                # Fail closed for open streams too: a revoke may be what the silent broker cannot tell us.
                closed = sessions.close_all("the broker has been silent too long to tell whether the grant is active")
                log.warning("closed %d open stream(s): the broker has been silent longer than maxStaleness", closed)
            await asyncio.sleep(0.1)

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(str(config.listen.tls_cert_file), str(config.listen.tls_key_file))
    tls.set_alpn_protocols(["http/1.1"])  # kubectl then speaks HTTP/1.1, which upgrades need
    background = [
        asyncio.ensure_future(link.follow_grants()),
        asyncio.ensure_future(link.send_activity()),
        asyncio.ensure_future(cut_off_loop()),
    ]

    async def started(port: int) -> None:
        log.info("kubejit gateway serving on https://%s:%d", config.listen.address, port)
        if on_ready is not None:
            on_ready(port)

    try:
        await serve(gateway, config.listen.address, config.listen.port, tls, started)
    finally:
        for task in background:
            task.cancel()
        with suppress(Exception):
            await asyncio.gather(*background, return_exceptions=True)
        await link.aclose()


def main(config: GatewayConfig) -> None:
    # uvloop (libuv, and its own TLS transport) where it exists: the gateway's cost per request is mostly the
    # event loop and TLS on both sides, and uvloop roughly halves it (bench/gateway.py).
    loop = uvloop.new_event_loop() if sys.platform != "win32" else asyncio.new_event_loop()
    task = loop.create_task(run(config))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with suppress(asyncio.CancelledError):
        loop.run_until_complete(task)
    loop.close()
