"""``kubejit profiles`` and ``kubejit profiles rightsize`` against the real broker API (``create_app`` over the
real services on fakes, served on 127.0.0.1): argument errors before anything is sent, the list decided on the
server, rightsize for auditors only, an unknown profile, and no activity meaning no proposal."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest
import uvicorn

from kubejit.domain.audit import AuditKind
from kubejit.domain.policy import Approval, BreakGlass, Identity, RoleKind, RoleSource, Scope, Subjects
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.workflow import AccessRequest, State
from kubejit.entrypoints.api.app import create_app
from kubejit.entrypoints.cli.main import main
from kubejit.services.access import AccessService
from kubejit.services.audit import AuditService
from kubejit.services.policy_review import InlineRulesOnly
from tests.unit.fakes import MemoryCheckpoints, RecordingNotifier
from tests.unit.policies import ALICE, policy, profile
from tests.unit.test_api_routes import StandInBroker as RoutesStandIn

if TYPE_CHECKING:
    from kubejit.bootstrap import Broker

OPS_RULES = (
    PolicyRule(("get", "list", "watch", "delete"), ("",), ("pods", "configmaps")),
    PolicyRule(("get", "list"), ("apps",), ("deployments",)),
)
POLICY = policy(
    profile("ops", role=RoleSource(RoleKind.INLINE, rules=OPS_RULES), description="day-to-day operations"),
    profile(
        "leads-only",
        requesters=Subjects(groups=frozenset({"payments-leads"})),
        approval=Approval(approvers=Subjects(users=frozenset({"carol", "erin"})), required=1),
    ),
    profile(
        "glass",
        requesters=Subjects(users=frozenset({"nobody"})),
        break_glass=BreakGlass(Subjects(groups=frozenset({"payments-devs"})), timedelta(minutes=30)),
        scope=Scope.CLUSTER,
        namespaces=(),
    ),
)


@dataclass
class StandInBroker(RoutesStandIn):
    """The routes' stand-in broker with this module's policy, and the policy holder's rule resolution."""

    policy: Any = field(default_factory=lambda: SimpleNamespace(role_rules=InlineRulesOnly()))

    def __post_init__(self) -> None:
        self.access = AccessService(
            lambda: POLICY, self.store, self.clock, RecordingNotifier(), wake_keeper=lambda: None
        )
        self.audit = AuditService(lambda: POLICY, self.store, self.clock, MemoryCheckpoints())

    def active_grant(self, who: Identity, profile_name: str) -> str:
        now = self.clock.now()
        request = AccessRequest(
            id=f"req-{profile_name}", requester=who, profile=profile_name, namespaces=("payments",),
            duration=timedelta(hours=1), reason="INC-1", created_at=now, state=State.ACTIVE,
            starts_at=now, ends_at=now + timedelta(hours=1),
        )  # fmt: skip
        with self.store() as uow:
            uow.requests.add(request)
            uow.commit()
        return request.id

    def gateway_saw(self, grant: str, **data: Any) -> None:
        with self.store() as uow:
            uow.audit.append(kind=AuditKind.ACTIVITY_REQUEST, actor="alice", at=self.clock.now(), request_id=grant,
                             data={"status": 200, **data})  # fmt: skip
            uow.commit()


@dataclass
class Served:
    broker: StandInBroker
    url: str

    def run(self, user: str, *args: str) -> Ran:
        return kubejit({"KUBEJIT_SERVER": self.url, "KUBEJIT_TOKEN": user}, *args)


@dataclass(frozen=True)
class Ran:
    exit_code: int
    output: str
    stderr: str


def kubejit(env: dict[str, str], *args: str) -> Ran:
    """``kubejit ARGS`` in this process (main(): kubejit's errors become a message and an exit code)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        for name, value in {**env, "COLUMNS": "80"}.items():
            patch.setenv(name, value)
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return Ran(code, out.getvalue(), err.getvalue())


@pytest.fixture
def served() -> Iterator[Served]:
    broker = StandInBroker()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(cast("Broker", broker)), log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    yield Served(broker, f"http://127.0.0.1:{sock.getsockname()[1]}")
    server.should_exit = True
    thread.join(5)
    sock.close()


def _error(result: Ran) -> str:
    return result.output + result.stderr


# ---- argument errors: exit 2 before anything is sent (no broker at this address) --------------------------------

NOWHERE = {"KUBEJIT_SERVER": "http://127.0.0.1:1", "KUBEJIT_TOKEN": "alice"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "30x"], "--since '30x' is not a time window: write it like 30d"),
        (["--since", "500d"], "at most 366d"),
        (["-o", "xml"], "-o 'xml' is not supported: use -o text, -o yaml or -o json"),
        (["--audit-log", "/nonexistent/audit.log"], "--audit-log /nonexistent/audit.log: no such file"),
    ],
)
def test_bad_arguments_are_usage_errors_that_say_what_to_write(args: list[str], message: str) -> None:
    ran = kubejit(NOWHERE, "profiles", "rightsize", "ops", *args)
    assert ran.exit_code == 2
    assert message in ran.stderr


# ---- the list -----------------------------------------------------------------------------------------------------


def test_the_list_shows_only_what_the_caller_may_request(served: Served) -> None:
    alice = json.loads(served.run("alice", "profiles", "-o", "json").output)
    assert [p["name"] for p in alice] == ["ops", "glass"]
    glass = alice[1]
    assert glass["requestable"] is False
    assert glass["breakGlass"]["youMay"] is True
    bob = json.loads(served.run("bob", "profiles", "list", "-o", "json").output)
    assert [p["name"] for p in bob] == ["ops", "leads-only"]
    assert bob[1]["approval"] == {
        "approvers": "user carol, user erin", "required": 1, "selfApproval": False, "autoApprove": None,
        "autoApproveMaxDuration": None, "autoApprovesYou": False,
    }  # fmt: skip
    assert json.loads(served.run("dave", "profiles", "-o", "json").output) == []


def test_the_list_in_text_names_limits_approval_and_break_glass(served: Served) -> None:
    text = served.run("alice", "profiles").output
    assert "ops" in text
    assert "payments, payments-*" in text
    assert "1 of group payments-leads" in text
    assert "break-glass only" in text
    assert "break-glass: group payments-devs, up to 30m" in text
    assert "leads-only" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


# ---- rightsize ----------------------------------------------------------------------------------------------------


def test_rightsize_is_for_auditors_and_admins(served: Served) -> None:
    """The security check: alice may request ops, yet may not read what its grants did."""
    result = served.run("alice", "profiles", "rightsize", "ops")
    assert result.exit_code != 0
    assert "only auditors and admins may read" in _error(result)


def test_an_unknown_profile_is_not_found_and_names_the_profiles(served: Served) -> None:
    result = served.run("dave", "profiles", "rightsize", "nope")
    assert result.exit_code != 0
    assert "there is no access profile 'nope'; profiles: ops, leads-only, glass" in _error(result)


def test_no_activity_is_no_proposal(served: Served) -> None:
    served.broker.active_grant(ALICE, "ops")
    text = served.run("dave", "profiles", "rightsize", "ops").output
    assert "no proposal: its grants used nothing it grants in the last 30d" in text
    assert "no --audit-log: direct use of the grants' RBAC bindings" in text
    document = json.loads(served.run("dave", "profiles", "rightsize", "ops", "-o", "json").output)
    assert document["proposal"] is None
    assert document["directUseSeen"] is False
    assert served.run("dave", "profiles", "rightsize", "ops", "-o", "yaml").exit_code == 2


def test_rightsize_proposes_what_the_gateway_saw_used(served: Served, tmp_path: Path) -> None:
    grant = served.broker.active_grant(ALICE, "ops")
    served.broker.gateway_saw(grant, verb="list", apiGroup="", resource="pods", name="", path="/api/v1/pods")
    served.broker.gateway_saw(grant, verb="list", apiGroup="", resource="secrets", status=403)  # refused: not used
    document = json.loads(served.run("dave", "profiles", "rightsize", "ops", "-o", "json").output)
    assert document["proposal"] == {
        "name": "ops",
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
    }
    assert document["problems"] == []
    assert {r["whole"] for r in document["removed"]} == {True, False}
    snippet = served.run("dave", "profiles", "rightsize", "ops", "-o", "yaml").output
    assert snippet.startswith("# kubejit profiles rightsize ops")
    assert "resources: [pods]" in snippet
