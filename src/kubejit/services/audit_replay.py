"""The audit chain replayed against the requests table: which rows does the chain not explain?

Every change the broker makes to a request appends an event in the same transaction, so the chain tells each
request's story: who submitted what (requester, groups, profile, namespaces, duration, reason), who approved or
denied it, whether it was auto-approved or broke the glass, when it was activated, how its end time moved, how
it ended. A row whose story differs was written behind the broker's back (or put back from an older copy): a
request with no submission event, other namespaces, groups or end time than its events say, an activation with
no approval events, a state its events never reached, a row without the broker's seal.

Callers: :meth:`kubejit.services.audit.AuditService.verify` (``kubejit audit verify`` names every such row),
the keeper before it binds an approved row (:func:`approved_row_problems`: a seal does not stop a replay), and
:mod:`kubejit.bootstrap`, once per start, to seal rows written before seals existed, only where the chain
explains them (:func:`seal_explained_rows`). Both read the chain once, streamed, folding each request's events
as they come (verify folds them while it checks the chain: :func:`folding`); nothing but a small summary per
request is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from kubejit.domain.audit import AuditEvent, AuditKind, JSONValue, Problem, Tampering
from kubejit.domain.workflow import AccessRequest, State, Verdict
from kubejit.ports import Seal, Stored, UnitOfWork, UnitOfWorkFactory
from kubejit.services.access import request_summary

log = logging.getLogger("kubejit.audit_replay")

_SEAL_WORDS = {
    Seal.MISSING: "its row carries no seal by the broker's key",
    Seal.BROKEN: "its row's seal does not verify (changed behind the broker's back)",
}


@dataclass
class Story:
    """What the chain says about one request, folded from its events in order."""

    submitted: Mapping[str, JSONValue] | None = None
    submitted_by: str = ""
    state: str = ""
    approvers: set[str] = field(default_factory=set)
    deniers: set[str] = field(default_factory=set)
    auto_approved: bool = False
    break_glass: bool = False
    activated: bool = False
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    last_seq: int = 0


def _time(value: JSONValue) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _state_from(event: AuditEvent, story: Story) -> None:
    state = event.data.get("state")
    if isinstance(state, str):
        story.state = state


def _submitted(event: AuditEvent, story: Story) -> None:
    story.submitted, story.submitted_by = event.data, event.actor
    _state_from(event, story)


def _approved(event: AuditEvent, story: Story) -> None:
    story.approvers.add(event.actor)
    _state_from(event, story)


def _denied(event: AuditEvent, story: Story) -> None:
    story.deniers.add(event.actor)
    story.state = State.DENIED


def _activated(event: AuditEvent, story: Story) -> None:
    story.activated, story.state = True, State.ACTIVE
    story.starts_at, story.ends_at = _time(event.data.get("starts_at")), _time(event.data.get("ends_at"))


def _end_moved(event: AuditEvent, story: Story) -> None:
    if "ends_at" in event.data:
        story.ends_at = _time(event.data["ends_at"])


def _revoked(event: AuditEvent, story: Story) -> None:
    story.state = State.REVOKED
    _end_moved(event, story)


def _activation_failed(event: AuditEvent, story: Story) -> None:
    if event.data.get("retry") is False and "refused" not in event.data:
        story.state = State.REVOKED  # abandoned by the keeper: it can never be activated


def _ended_as(state: State) -> Callable[[AuditEvent, Story], None]:
    def fold(_event: AuditEvent, story: Story) -> None:
        story.state = state

    return fold


def _auto_approved(_event: AuditEvent, story: Story) -> None:
    story.auto_approved = True


def _broke_glass(_event: AuditEvent, story: Story) -> None:
    story.break_glass = True


_FOLDS: dict[str, Callable[[AuditEvent, Story], None]] = {
    AuditKind.REQUEST_SUBMITTED: _submitted,
    AuditKind.REQUEST_AUTO_APPROVED: _auto_approved,
    AuditKind.REQUEST_BREAK_GLASS: _broke_glass,
    AuditKind.REQUEST_APPROVED: _approved,
    AuditKind.REQUEST_DENIED: _denied,
    AuditKind.REQUEST_CANCELLED: _ended_as(State.CANCELLED),
    AuditKind.REQUEST_TIMED_OUT: _ended_as(State.TIMED_OUT),
    AuditKind.GRANT_ACTIVATED: _activated,
    AuditKind.GRANT_ACTIVATION_FAILED: _activation_failed,
    AuditKind.GRANT_EXPIRED: _ended_as(State.EXPIRED),
    AuditKind.GRANT_REVOKED: _revoked,
    AuditKind.GRANT_EXTENSION_REQUESTED: _end_moved,
    AuditKind.GRANT_EXTENSION_APPROVED: _end_moved,
}


def folding(events: Iterable[AuditEvent], told: dict[str, Story]) -> Iterator[AuditEvent]:
    """``events``, passed on one by one, each folded into ``told`` (its request's story) as it goes by: for a
    caller that reads the chain for another reason (verification) and wants the stories from the same pass."""
    for event in events:
        fold = _FOLDS.get(event.kind)
        if fold is not None and event.request_id:
            story = told.setdefault(event.request_id, Story())
            fold(event, story)
            story.last_seq = event.seq
        yield event


def stories(events: Iterable[AuditEvent]) -> dict[str, Story]:
    """Each request's story, from the whole chain in order (events of other kinds are passed over)."""
    told: dict[str, Story] = {}
    for _ in folding(events, told):
        pass
    return told


# ---- comparing a row with its story --------------------------------------------------------------------------------


def _submission_differences(request: AccessRequest, story: Story) -> Iterator[str]:
    told = story.submitted or {}
    said = {k: v for k, v in request_summary(request).items() if k != "state"}  # what the submission event carries
    for name, value in said.items():
        if told.get(name) != value:
            yield f"its {name} is {value!r} but its submission event says {told.get(name)!r}"
    if story.submitted_by != request.requester.user:
        yield f"it was submitted by {story.submitted_by}, not by its requester {request.requester.user}"


def _review_differences(request: AccessRequest, story: Story) -> Iterator[str]:
    approvers = {r.reviewer for r in request.reviews if r.verdict is Verdict.APPROVE}
    deniers = {r.reviewer for r in request.reviews if r.verdict is Verdict.DENY}
    if approvers != story.approvers:
        yield (
            f"its approvals ({', '.join(sorted(approvers)) or 'none'}) are not the approval events "
            f"({', '.join(sorted(story.approvers)) or 'none'})"
        )
    if deniers != story.deniers:
        yield f"its denials ({', '.join(sorted(deniers)) or 'none'}) are not the denial events"
    if request.auto_approved != story.auto_approved or request.break_glass != story.break_glass:
        yield "its auto-approval or break-glass flag is not what its events say"


def _grant_differences(request: AccessRequest, story: Story) -> Iterator[str]:
    if request.state != story.state:
        yield f"it is {request.state} but its events leave it {story.state or 'without a state'}"
    if story.activated and not (story.approvers or story.auto_approved or story.break_glass):
        yield "it was activated without any approval, auto-approval or break-glass event"
    if (request.starts_at is not None) != story.activated or request.starts_at != story.starts_at:
        yield f"its start time {_text(request.starts_at)} is not the activation event's {_text(story.starts_at)}"
    if story.activated and request.ends_at != story.ends_at:
        yield f"its end time {_text(request.ends_at)} is not what its events say ({_text(story.ends_at)})"


def _text(at: datetime | None) -> str:
    return "none" if at is None else at.isoformat()


def differences(stored: Stored, story: Story | None) -> list[str]:
    """Everything about the row that its story does not explain; empty when the chain explains it."""
    seal = _SEAL_WORDS.get(stored.seal)
    found = [seal] if seal else []
    if story is None or story.submitted is None:
        return [*found, "the audit chain has no submission event for it"]
    request = stored.request
    return [
        *found,
        *_submission_differences(request, story),
        *_review_differences(request, story),
        *_grant_differences(request, story),
    ]


# ---- the callers -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnexplainedRow:
    """A request row the audit chain does not explain, and why."""

    request_id: str
    reasons: tuple[str, ...]
    last_seq: int  # the last event about it (0: none)

    def problem(self) -> Problem:
        """As a verification problem: ``kubejit audit verify`` names the row in its message."""
        return Problem(self.last_seq, Tampering.EDITED, f"request {self.request_id}: " + "; ".join(self.reasons))


def unexplained_rows(uow: UnitOfWork, told: Mapping[str, Story] | None = None) -> list[UnexplainedRow]:
    """Every request row the chain does not explain, and every submitted request that has no row. ``told``: the
    stories of the whole chain when the caller has folded them already (:func:`folding`); read here otherwise."""
    told = dict(told) if told is not None else stories(uow.audit.events())
    found: list[UnexplainedRow] = []
    for request_id, stored in uow.requests.every():
        story = told.pop(request_id, None)
        reasons = ["its document cannot be read"] if stored is None else differences(stored, story)
        if reasons:
            found.append(UnexplainedRow(request_id, tuple(reasons), story.last_seq if story else 0))
    for request_id, story in told.items():
        if story.submitted is not None:
            found.append(UnexplainedRow(request_id, ("it was submitted but has no row",), story.last_seq))
    return found


# An approved request's own events: its submission, reviews, flags. Far fewer than this; reaching it means the
# request has a history (activity, an activation) that an approved row does not have.
_APPROVED_STORY_EVENTS = 1000


def approved_row_problems(uow: UnitOfWork, stored: Stored) -> list[str]:
    """What the chain does not explain about an approved row about to be bound: the keeper's check against a
    replay (an older copy of the row, with the broker's seal, put back after the grant was activated, revoked or
    ended). One indexed query of the request's own events."""
    request_id = stored.request.id
    events = uow.audit.query(request_id=request_id, limit=_APPROVED_STORY_EVENTS)
    if len(events) >= _APPROVED_STORY_EVENTS:
        return [f"the chain has {len(events)} or more events about it, more than an approved request has"]
    return differences(stored, stories(events).get(request_id))


def verification_problems(uow: UnitOfWork, told: Mapping[str, Story] | None = None) -> list[Problem]:
    """The rows the chain does not explain, as verification problems (for the verify service, which passes the
    stories it folded while verifying the chain)."""
    return [row.problem() for row in unexplained_rows(uow, told)]


def seal_explained_rows(uow: UnitOfWorkFactory) -> tuple[list[str], list[UnexplainedRow]]:
    """Seal the rows written before seals existed whose story the chain tells exactly; leave the others unsealed
    (so never access) and return them, for the log. Returns (sealed ids, unexplained rows). Does not read the
    chain when every row is sealed already."""
    with uow(read_only=True) as reading:
        legacy = list(reading.requests.unsealed())
        told = stories(reading.audit.events()) if legacy else {}
    sealed: list[str] = []
    refused: list[UnexplainedRow] = []
    for stored in legacy:
        story = told.get(stored.request.id)
        reasons = [r for r in differences(stored, story) if r != _SEAL_WORDS[Seal.MISSING]]
        if reasons:
            refused.append(UnexplainedRow(stored.request.id, tuple(reasons), story.last_seq if story else 0))
            continue
        with uow() as writing:
            if writing.requests.seal_legacy(stored):
                sealed.append(stored.request.id)
            writing.commit()
    for row in refused:
        log.error("request %s stays unsealed (never access): %s", row.request_id, "; ".join(row.reasons))
    return sealed, refused
