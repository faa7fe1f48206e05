"""The real ``kubejit`` CLI against the real broker API in the same process: the API (``create_app``) over the real
services on fakes, reached through Starlette's TestClient in place of the network. For CLI tests that need a
broker's answers without starting one (`tests/e2e` runs the same commands against a real broker process)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from kubejit.domain import workflow as wf
from kubejit.domain.errors import KubejitError
from kubejit.domain.policy import AccessPolicy
from kubejit.entrypoints.api.app import create_app
from kubejit.entrypoints.cli.client import BrokerClient
from kubejit.entrypoints.cli.errors import exit_code_for
from kubejit.entrypoints.cli.main import build_app
from kubejit.services.access import AccessService
from kubejit.services.audit import AuditService
from tests.unit.fakes import MemoryCheckpoints, RecordingNotifier
from tests.unit.test_api_routes import StandInBroker

if TYPE_CHECKING:
    from kubejit.bootstrap import Broker

SERVER = "http://127.0.0.1:8400"


@dataclass(kw_only=True)
class CliWorld(StandInBroker):
    """The stand-in broker of the API tests under ``policy``; ``ids`` are the ids new requests get in turn."""

    policy: AccessPolicy
    ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        numbered = (f"req-{n:016x}" for n in range(1, 10_000))
        given = iter(self.ids)
        self.access = AccessService(
            lambda: self.policy,
            self.store,
            self.clock,
            RecordingNotifier(),
            new_id=lambda: next(given, None) or next(numbered),
        )
        self.audit = AuditService(lambda: self.policy, self.store, self.clock, MemoryCheckpoints())
        self.app = create_app(cast("Broker", self))

    def activate(self, request_id: str) -> None:
        """What the grant keeper does once the bindings exist."""
        with self.store() as uow:
            stored = uow.requests.get(request_id)
            uow.requests.update(wf.activate(stored.request, self.clock.now()), stored.version)
            uow.commit()

    def end(self, request_id: str) -> None:
        """The grant runs out (the keeper's expiry)."""
        with self.store() as uow:
            stored = uow.requests.get(request_id)
            ends = stored.request.ends_at or self.clock.now()
            uow.requests.update(replace(wf.expire(stored.request, ends)), stored.version)
            uow.commit()


class _InProcess:
    """A TestClient used as BrokerClient uses its httpx.Client (``with ... as client``), without the lifespan."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def __enter__(self) -> TestClient:
        return self.client

    def __exit__(self, *exc: object) -> None:
        return None


def connect(monkeypatch: pytest.MonkeyPatch, world: CliWorld) -> None:
    """Every BrokerClient of this test reaches ``world``'s API, as the caller its token names."""

    def in_process(self: BrokerClient) -> _InProcess:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return _InProcess(TestClient(world.app, base_url=self.server, headers=headers))

    monkeypatch.setattr(BrokerClient, "_client", in_process)


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)

    def json_lines(self) -> list[Any]:
        assert self.code == 0, self.stderr
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def kubejit(user: str, *args: str, env: dict[str, str] | None = None) -> Ran:
    """``kubejit ARGS`` as ``user``, with the exit code and message ``kubejit`` gives a KubejitError."""
    environment = {"KUBEJIT_SERVER": SERVER, "KUBEJIT_TOKEN": user, **(env or {})}
    result: Result = CliRunner().invoke(build_app(), list(args), env=environment)
    if isinstance(result.exception, KubejitError):
        return Ran(exit_code_for(result.exception), result.stdout, f"error: {result.exception}\n")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)
