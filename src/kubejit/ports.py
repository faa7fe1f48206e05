"""The interfaces the use cases need from the outside world; adapters implement them.

Services depend only on these Protocols, so they are tested with small fakes and wired to real
Kubernetes, databases and identity providers in :mod:`kubejit.bootstrap`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self

from kubejit.domain.audit import AuditEntry, AuditEvent, Checkpoint, JSONValue
from kubejit.domain.policy import Identity, IdentityMapping, Profile, RoleSource
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.workflow import AccessRequest, State

# ---- time ----------------------------------------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


# ---- policy -----------------------------------------------------------------------------------------------------


class RoleRules(Protocol):
    """Resolves where a profile's permissions come from into the RBAC rules they grant."""

    def rules_of(self, source: RoleSource) -> tuple[PolicyRule, ...] | None:
        """The effective rules (aggregated ClusterRoles resolved), or None when they cannot be known here.

        Raises NotFound when the role does not exist, Unavailable when the cluster cannot be reached.
        """
        ...


# ---- storage ----------------------------------------------------------------------------------------------------


class Seal(StrEnum):
    """Whether a stored request carries the broker's seal (an HMAC by a key the database does not hold)."""

    VALID = "valid"  # written by this broker (or another replica with the same key)
    MISSING = "missing"  # written before seals existed, or inserted behind the broker's back
    BROKEN = "broken"  # changed behind the broker's back, or sealed with another key


@dataclass(frozen=True)
class Stored:
    """A request as stored, with the version that optimistic updates must name, and whether its seal holds.

    Only a request whose seal is VALID may become access (the keeper and the gateway feed check)."""

    request: AccessRequest
    version: int
    seal: Seal = Seal.VALID


class RequestRepository(Protocol):
    def add(self, request: AccessRequest) -> Stored:
        """Insert a new request; raises Conflict if the id exists."""
        ...

    def get(self, request_id: str) -> Stored:
        """Raises NotFound."""
        ...

    def update(self, request: AccessRequest, expected_version: int) -> Stored:
        """Replace the request if it is still at ``expected_version``; raises StaleWrite otherwise."""
        ...

    def find(
        self,
        *,
        states: Sequence[State] | None = None,
        requester: str | None = None,
        profiles: Sequence[str] | None = None,
        limit: int = 500,
    ) -> list[Stored]:
        """Requests matching every given filter, newest first."""
        ...

    def with_id_prefix(self, prefix: str, *, after: str = "", limit: int = 100) -> list[Stored]:
        """Requests whose id starts with ``prefix`` (a literal prefix: no wildcards), by id, those after ``after``
        only (page on with the last id seen); found through an index, never by reading the whole table."""
        ...

    def ending_before(self, when: datetime) -> list[Stored]:
        """Active grants whose end time is at or before ``when``, soonest first."""
        ...

    def next_end(self) -> datetime | None:
        """The earliest end time of any active grant."""
        ...

    def every(self) -> Iterator[tuple[str, Stored | None]]:
        """Every request id with its request, oldest first, streamed (for the audit replay); None for a row whose
        document cannot be read."""
        ...

    def unsealed(self) -> Iterator[Stored]:
        """The rows that carry no seal at all (written before seals existed, or inserted behind the broker's
        back), oldest first as :meth:`every`, streamed; rows whose document cannot be read are left out."""
        ...

    def seal_legacy(self, stored: Stored) -> bool:
        """Seal a row that has no seal yet, as it is stored at ``stored.version``; True if it was sealed."""
        ...

    def awaiting_unbind(self, *, after: str = "", limit: int = 500) -> list[Stored]:
        """Grants revoked after they started whose bindings are not yet confirmed removed, by id, those after
        ``after`` only (page on with the last id seen). Every such grant is found, however old."""
        ...

    def confirm_unbound(self, request_id: str) -> None:
        """Record that the grant's bindings are gone: :meth:`awaiting_unbind` no longer lists it."""
        ...


class AuditRepository(Protocol):
    def append(
        self, *, kind: str, actor: str, at: datetime, request_id: str = "", data: dict[str, JSONValue] | None = None
    ) -> AuditEvent:
        """Chain a new event after the current head (serialized across writers); part of the unit of work."""
        ...

    def append_many(self, entries: Sequence[AuditEntry], *, at: datetime) -> list[AuditEvent]:
        """Chain several events at once (one read of the head, one write of the rows): for activity batches."""
        ...

    def events(self, *, after_seq: int = 0) -> Iterator[AuditEvent]:
        """Every event in sequence order, as stored (for verification and export)."""
        ...

    def query(
        self,
        *,
        request_id: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        request_ids: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        after_seq: int = 0,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """The first ``limit`` events matching every given filter, in sequence order, those after ``after_seq``
        only (page on with the last ``seq`` seen); ``kinds`` keeps only events of those kinds. Read through the
        ``seq`` index, in the query: nothing filtered out is read by the caller."""
        ...

    def head(self) -> AuditEvent | None: ...


class IdempotencyRepository(Protocol):
    def remembered(self, user: str, key: str) -> str | None:
        """The request id created earlier by ``user`` with this idempotency key, if any."""
        ...

    def remember(self, user: str, key: str, request_id: str, at: datetime) -> None: ...

    def activity_mark(self, instance: str) -> int:
        """The highest activity number recorded from this gateway process (0 if none); locks it until commit."""
        ...

    def set_activity_mark(self, instance: str, seq: int, at: datetime) -> None:
        """Record the highest number and when the broker last heard from the process (``at``)."""
        ...

    def last_heard(self, instances: Sequence[str]) -> dict[str, datetime]:
        """When the broker last recorded a batch (empty ones too) from each of these gateway processes; a process
        it never heard from is missing."""
        ...


class UnitOfWork(Protocol):
    """One database transaction: everything inside commits together or not at all."""

    requests: RequestRepository
    audit: AuditRepository
    idempotency: IdempotencyRepository

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Rolls back unless :meth:`commit` was called."""
        ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        """A new unit of work; ``read_only`` ones neither wait for writers nor make them wait, and refuse writes."""
        ...


# ---- the cluster ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BindingRef:
    """A RoleBinding (namespace set) or ClusterRoleBinding that kubejit manages for a grant."""

    grant_id: str
    kind: str  # "RoleBinding" or "ClusterRoleBinding"
    name: str
    namespace: str = ""
    ends_at: datetime | None = None
    # Why this binding, though it carries this installation's labels, cannot be one kubejit made for a grant
    # (a malformed grant id, a name not derived from it); "" for a well-formed one.
    problem: str = ""


class Cluster(Protocol):
    """Materializes grants as RBAC bindings and removes them (RBAC mode)."""

    def bind(
        self, request: AccessRequest, profile: Profile, identity: IdentityMapping, ends_at: datetime
    ) -> list[BindingRef]:
        """Create (or confirm) one binding per namespace, or one ClusterRoleBinding; idempotent."""
        ...

    def set_end(self, grant_id: str, ends_at: datetime, namespaces: Sequence[str] | None = None) -> None:
        """Record a new end time on the grant's bindings (after an extension); ``namespaces`` as for unbind."""
        ...

    def unbind(self, grant_id: str, namespaces: Sequence[str] | None = None) -> list[BindingRef]:
        """Delete the grant's bindings; returns what was deleted (none is not an error).

        With ``namespaces`` (the grant's namespaces; empty for a cluster-wide grant) the bindings are deleted by
        name, one call each; without, they are found by label first.
        """
        ...

    def managed_bindings(self) -> list[BindingRef]:
        """Every binding labelled as this installation's, found by label (with ``problem`` set on those that
        cannot be kubejit's own)."""
        ...

    def delete_binding(self, ref: BindingRef) -> bool:
        """Delete exactly this binding (kind, namespace, name); False when it was already gone."""
        ...


class LeaderElection(Protocol):
    def is_leader(self) -> bool:
        """True while this replica holds the lease (and its renewal has not lapsed)."""
        ...


class CheckpointStore(Protocol):
    """Keeps the audit chain head outside the database, signed, with a high-water mark that only grows."""

    def save(self, checkpoint: Checkpoint) -> None:
        """Save the checkpoint and raise the high-water mark to it; raises Refused below the high-water mark."""
        ...

    def load(self) -> Checkpoint | None:
        """The last saved checkpoint; raises Refused if its signature does not verify."""
        ...

    def high_water(self) -> Checkpoint | None:
        """The highest checkpoint ever saved here (a separate signed record); raises Refused as :meth:`load`."""
        ...

    def records(self) -> tuple[Checkpoint | None, Checkpoint | None]:
        """:meth:`load` and :meth:`high_water` from one read; raises Refused if either does not verify."""
        ...


# ---- identity and notifications ----------------------------------------------------------------------------------


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Identity:
        """The identity in a bearer token; raises Unauthenticated when it is not valid here."""
        ...


@dataclass(frozen=True)
class Notification:
    """Something people should hear about: a request needs review, was decided, is about to end, has ended, or
    an alert rule fired on what was done with a grant (``alert.raised``, its facts in ``details``)."""

    event: str  # request.pending | request.approved | request.denied | grant.active | grant.expiring | grant.ended
    request: AccessRequest
    at: datetime
    message: str
    # Blocks the generic webhook body adds beside ``request`` (e.g. ``{"alert": {...}}`` for alert.raised); the
    # body's own fields (event, at, message, request) are never replaced by them.
    details: Mapping[str, JSONValue] = field(default_factory=dict)


class Notifier(Protocol):
    def notify(self, notification: Notification) -> None:
        """Queue delivery; never blocks the workflow and never raises for a failing receiver."""
        ...


class TokenSigner(Protocol):
    def sign(self, claims: dict[str, Any]) -> str:
        """A signed token carrying ``claims``."""
        ...
