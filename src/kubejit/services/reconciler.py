"""The grant keeper's passes: make the cluster match the requests, one pass per call.

Each call of :meth:`GrantReconciler.reconcile` ends what is due, activates what is approved (RBAC bindings
first, then the state change and its audit events in one transaction; if that transaction fails, the bindings
are removed again: fail closed), removes the bindings of revoked grants, times out pending requests, writes
extended end times, warns of grants about to end, and sweeps when a sweep is due: every binding kubejit
manages whose grant is not active, is unknown, or has passed its end time is deleted, whatever happened before
(a crash, a lost leader, a binding made by hand with kubejit's labels). Each action is an audit event saying why.

A row is not a grant by being in the database: before binding, and again on every pass for active grants, the
keeper asks :func:`kubejit.services.grant_trust.trust_problems` whether the broker wrote the row (its seal) and the
current policy supports it. A row that fails is never bound (and an active one loses its bindings); the refusal
is an audit event, a log line and a count (``KeeperStats.refused``), once per version of the row.

No single item stops a pass: a stage that fails is logged and counted and the next stage runs; within the sweep
and the removal of revoked grants' bindings, one binding or grant that cannot be handled (a binding planted with
kubejit's labels but no grant of its own, a delete the API refuses, a record that cannot be read) is reported
(log, audit event, metric) and the rest are handled. Revoked grants are found by an exact query (every grant
revoked after it started whose bindings are not yet confirmed removed, paged), not among the newest requests.

Only the leader acts. Time comes from the injected Clock only (the retry backoff and the sweep schedule too),
so tests run passes directly with a fake clock. The thread that runs passes is :mod:`kubejit.services.keeper`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from kubejit.domain import workflow as wf
from kubejit.domain.audit import AuditKind
from kubejit.domain.errors import KubejitError, NotFound, StaleWrite, Unavailable
from kubejit.domain.policy import AccessPolicy
from kubejit.domain.workflow import AccessRequest, State
from kubejit.ports import (
    BindingRef,
    Clock,
    Cluster,
    LeaderElection,
    Notification,
    Notifier,
    Seal,
    Stored,
    UnitOfWork,
    UnitOfWorkFactory,
)
from kubejit.services.audit_replay import approved_row_problems
from kubejit.services.binding_sweep import BindingSweep, binding_names
from kubejit.services.grant_trust import ENDED_BY_CHAIN, ChainEndings, RefusalLog, trust_problems
from kubejit.services.keeper_stats import KeeperObserver, KeeperStats, NoObserver, by_profile

log = logging.getLogger(__name__)
ACTOR = "kubejit"
MAX_BACKOFF = timedelta(seconds=60)


def _require_unchanged(current: Stored, bound: AccessRequest) -> None:
    """The row about to be recorded as active is still the broker's, and says what the bindings were made from."""
    fresh = current.request
    made_from = (bound.requester, bound.profile, bound.namespaces, bound.duration)
    if (
        current.seal is not Seal.VALID
        or (fresh.requester, fresh.profile, fresh.namespaces, fresh.duration) != made_from
    ):
        raise StaleWrite(f"{bound.id} was changed behind the broker's back while it was being bound")


@dataclass
class GrantReconciler:
    policy: Callable[[], AccessPolicy]
    uow: UnitOfWorkFactory
    cluster: Cluster
    clock: Clock
    leader: LeaderElection
    notifier: Notifier
    poll_interval: timedelta = timedelta(seconds=0.5)  # the longest wait between passes; the backoff's unit
    sweep_interval: timedelta = timedelta(seconds=10)
    # How often every active grant is checked again (seal, policy, chain) and its end time written onto its
    # bindings: each lists all active grants, so not on every 250 ms pass (1,000 cost ~33 ms on SQLite).
    trust_interval: timedelta = timedelta(seconds=1)
    expiring_notice: timedelta = timedelta(minutes=5)
    on_audit: Callable[[], None] = lambda: None  # called after audit events were committed (checkpointing)
    replica: str = ""  # which broker replica acted, recorded in the keeper's audit events
    parallelism: int = 16  # concurrent cluster calls when many grants end at once
    batch: int = 50  # activations per pass
    stats: KeeperStats = field(default_factory=KeeperStats)
    observer: KeeperObserver = field(default_factory=NoObserver)  # time to approve, expiry lag (metrics)
    _next_sweep: datetime | None = None  # None: at the next pass
    _next_trust_check: datetime | None = None  # None: at the next pass
    _left_over: bool = False  # the last pass left approved requests for the next one
    _sweeper: BindingSweep = field(init=False)
    _warned: set[str] = field(default_factory=set)  # grants told they are about to end
    _ends_written: dict[str, object] = field(default_factory=dict)  # grant -> end time on its bindings
    _backoff: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # grant -> (failures, retry after)
    _refusals: RefusalLog = field(default_factory=lambda: RefusalLog("the grant keeper"))
    _trusted: dict[str, int] = field(default_factory=dict)  # active grant -> version found trustworthy (sealed)
    _trusted_under: object = None  # the policy those were checked under
    _endings: ChainEndings = field(default_factory=ChainEndings)  # requests the chain says have ended

    def __post_init__(self) -> None:
        self._sweeper = BindingSweep(self.uow, self.cluster, self.leader, self.stats, self._audit, self._guarded)

    def reconcile(self) -> None:
        """One pass: end what is due, activate what is approved, refuse rows that are not grants, unbind what was
        revoked, sweep when due.

        Each stage runs even when one before it failed: a stuck activation must not keep revoked grants'
        bindings in place. The first failure is raised once all stages ran (the keeper counts and logs it and
        retries after its poll interval); any further ones are logged here."""
        stages: list[Callable[[], object]] = [self.expire_due, self.activate_approved]
        if self._active_grants_check_due():
            stages += [self.refuse_untrusted, self.sync_end_times]
        stages += [self.unbind_ended, self.time_out_pending, self.warn_expiring]
        if self._next_sweep is None or self.clock.now() >= self._next_sweep:
            stages.append(self.sweep)
        failed: list[Exception] = []
        for stage in stages:
            try:
                stage()
            except Exception as error:
                if failed:
                    log.exception("grant keeper: %s failed too", stage.__name__)
                failed.append(error)
        if failed:
            raise failed[0]

    def _guarded(self, what: str, action: Callable[[], object]) -> None:
        """Handle one item of a stage; a failure is logged and counted, and the stage goes on with the next."""
        try:
            action()
        except Exception:
            self.stats.failures += 1
            log.exception("grant keeper: %s failed; the rest of the pass goes on", what)

    def next_pass_in(self) -> timedelta:
        """How long the next pass may wait: none when work was left over, else until the next grant ends, at
        most ``poll_interval``."""
        if self._left_over:
            return timedelta(0)
        with self.uow(read_only=True) as uow:
            next_end = uow.requests.next_end()
        if next_end is None:
            return self.poll_interval
        return min(self.poll_interval, max(timedelta(0), next_end - self.clock.now()))

    # ---- retries -------------------------------------------------------------------------------------------------

    def _backing_off(self, grant_id: str) -> bool:
        entry = self._backoff.get(grant_id)
        return entry is not None and self.clock.now() < entry[1]

    def _failed(self, grant_id: str, kind: AuditKind, error: KubejitError, data: dict[str, object]) -> None:
        """Retry later with exponential backoff; audit the first failure of a run of failures only."""
        count = self._backoff[grant_id][0] + 1 if grant_id in self._backoff else 1
        self._backoff[grant_id] = (count, self.clock.now() + min(MAX_BACKOFF, self.poll_interval * 2**count))
        self.stats.failures += 1
        if count == 1:
            self._audit(kind, grant_id, {**data, "error": str(error), "retry": True})

    def _succeeded(self, grant_id: str) -> None:
        self._backoff.pop(grant_id, None)

    # ---- actions -------------------------------------------------------------------------------------------------

    def activate_approved(self) -> int:
        """Activate approved requests, oldest approval first, at most ``batch`` per pass so that grants ending
        meanwhile are not kept waiting (the loop comes straight back for the rest)."""
        with self.uow(read_only=True) as uow:
            approved = uow.requests.find(states=[State.APPROVED], limit=10_000)
        # Rows refused for their seal or the chain stay approved (left as found, for the audit): skip them, or
        # enough planted rows with old approval times would fill every batch and keep real grants waiting.
        approved = [stored for stored in approved if not self._refusals.already(stored)]
        approved.sort(key=lambda s: s.request.approved_at or s.request.created_at)
        self._left_over = len(approved) > self.batch  # the next pass comes straight back for the rest
        return sum(self._activate(stored) for stored in approved[: self.batch])

    def _refuse(self, stored: Stored, problems: list[str], kind: AuditKind, data: dict[str, object]) -> None:
        """Report a row that must not become access: once per version (audit event, log line, count)."""
        if self._refusals.first(stored, problems):
            self.stats.refused += 1
            self._audit(kind, stored.request.id, {**data, "refused": problems, "version": stored.version})

    def _activate(self, stored: Stored) -> int:
        request = stored.request
        if self._backing_off(request.id) or not self.leader.is_leader():
            return 0
        policy = self.policy()
        profile = policy.profile(request.profile)
        if self._refused_activation(stored, policy) or profile is None:
            return 0
        now = self.clock.now()
        ends_at = now + request.duration
        try:
            refs = self.cluster.bind(request, profile, policy.identity, ends_at)
        except Unavailable as error:
            self._failed(request.id, AuditKind.GRANT_ACTIVATION_FAILED, error, {})
            return 0
        except KubejitError as error:
            return self._end_unusable(request, f"the cluster refused the binding: {error}")
        try:
            with self.uow() as uow:
                current = uow.requests.get(request.id)
                fresh = current.request
                if fresh.state is State.ACTIVE:
                    return 0  # another leader activated it meanwhile: the bindings are its, keep them
                if fresh.state is not State.APPROVED:
                    raise StaleWrite(f"{request.id} became {fresh.state} meanwhile")
                _require_unchanged(current, request)
                active = wf.activate(fresh, now)  # from the record read here: nothing written meanwhile is lost
                uow.requests.update(active, current.version)
                self._append(
                    uow,
                    AuditKind.BINDING_CREATED,
                    request.id,
                    {"bindings": binding_names(refs), "ends_at": ends_at.isoformat()},
                    now,
                )
                self._append(
                    uow,
                    AuditKind.GRANT_ACTIVATED,
                    request.id,
                    {"starts_at": now.isoformat(), "ends_at": ends_at.isoformat()},
                    now,
                )
                uow.commit()
        except Exception as error:
            # Fail closed: the access exists in the cluster but not on the record, so take it away again.
            removed = self.cluster.unbind(request.id, request.namespaces)
            self._audit(
                AuditKind.GRANT_ACTIVATION_FAILED if not isinstance(error, StaleWrite) else AuditKind.BINDING_DELETED,
                request.id,
                {"error": str(error), "bindings_removed": binding_names(removed)},
            )
            if not isinstance(error, StaleWrite):
                raise
            return 0
        self._succeeded(request.id)
        self.on_audit()
        self._ends_written[request.id] = ends_at
        self.stats.activated += 1
        if active.approved_at is not None:
            self.observer.approved_after(request.profile, (active.approved_at - active.created_at).total_seconds())
        self.notifier.notify(
            Notification(
                "grant.active",
                active,
                now,
                f"{request.requester.user} now has {request.profile} until {ends_at.isoformat()} ({request.id})",
            )
        )
        return 1

    def _refused_activation(self, stored: Stored, policy: AccessPolicy) -> bool:
        """True when the row must not be bound: not the broker's row, or an older copy of one that the chain
        says has moved on since (refused, left as it is for the audit), or not supported by the current policy
        (ended by kubejit, with the reasons)."""
        problems = trust_problems(policy, stored)
        if stored.seal is Seal.VALID and problems:
            self._end_unusable(stored.request, "the current policy does not support it: " + "; ".join(problems))
            return True
        if not problems:
            with self.uow(read_only=True) as uow:  # sealed, but perhaps an older copy put back: ask the chain
                problems = approved_row_problems(uow, stored)
            if not problems:
                return False
        self._refuse(stored, problems, AuditKind.GRANT_ACTIVATION_FAILED, {"retry": False})
        return True

    def _end_unusable(self, request: AccessRequest, reason: str) -> int:
        """An approved request that can never be activated is revoked by kubejit, with the reason."""
        now = self.clock.now()
        with self.uow() as uow:
            stored = uow.requests.get(request.id)
            if stored.request.state is not State.APPROVED:
                return 0
            ended = wf.abandon(stored.request, now, reason)
            uow.requests.update(ended, stored.version)
            self._append(uow, AuditKind.GRANT_ACTIVATION_FAILED, request.id, {"error": reason, "retry": False}, now)
            uow.commit()
        self.on_audit()
        self.stats.failures += 1
        return 0

    def expire_due(self) -> int:
        """End every grant whose time is up: bindings first (in parallel), then the records (one transaction)."""
        now = self.clock.now()
        with self.uow(read_only=True) as uow:
            due = [s.request for s in uow.requests.ending_before(now) if not self._backing_off(s.request.id)]
        if not due or not self.leader.is_leader():
            return 0
        unbound: list[tuple[AccessRequest, list[BindingRef]]] = []
        with ThreadPoolExecutor(max_workers=min(self.parallelism, len(due))) as pool:
            outcomes = pool.map(self._unbind_for_expiry, due)
            unbound = [(request, refs) for request, refs in zip(due, outcomes, strict=True) if refs is not None]
        return self._record_expiries(unbound)

    def _unbind_for_expiry(self, request: AccessRequest) -> list[BindingRef] | None:
        """Access first: the record follows. None when the cluster could not be reached (retried next pass)."""
        try:
            refs = self.cluster.unbind(request.id, request.namespaces)
        except KubejitError as error:
            self._failed(request.id, AuditKind.GRANT_EXPIRY_FAILED, error, {})
            return None
        self._succeeded(request.id)
        return refs

    def _record_expiries(self, unbound: list[tuple[AccessRequest, list[BindingRef]]]) -> int:
        now = self.clock.now()
        ended: list[AccessRequest] = []
        extended: list[Stored] = []
        with self.uow() as uow:
            for request, removed in unbound:
                try:
                    stored = uow.requests.get(request.id)
                except NotFound:
                    continue
                if stored.request.state is not State.ACTIVE:
                    continue
                if stored.request.ends_at is not None and stored.request.ends_at > now:
                    extended.append(stored)  # extended after it was read as due: give the access back
                    continue
                expired = wf.expire(stored.request, now)
                try:
                    uow.requests.update(expired, stored.version)
                except StaleWrite:
                    continue  # revoked or extended meanwhile: the next pass looks again
                ends_at = request.ends_at or now
                self._append(
                    uow,
                    AuditKind.BINDING_DELETED,
                    request.id,
                    {"bindings": binding_names(removed), "reason": "grant ended"},
                    now,
                )
                self._append(
                    uow,
                    AuditKind.GRANT_EXPIRED,
                    request.id,
                    {
                        "ends_at": ends_at.isoformat(),
                        "lag_seconds": round((now - ends_at).total_seconds(), 3),
                    },
                    now,
                )
                ended.append(expired)
            uow.commit()
        if ended:
            self.on_audit()
        for stored in extended:
            self._rebind(stored)
        for expired in ended:
            self.stats.expired += 1
            if expired.ends_at is not None:
                self.stats.expiry_lag_seconds.append((now - expired.ends_at).total_seconds())
                self.observer.expired_late(expired.profile, (now - expired.ends_at).total_seconds())
            self.notifier.notify(Notification("grant.ended", expired, now, f"{expired.id} for {expired.profile} ended"))
        return len(ended)

    def _rebind(self, stored: Stored) -> None:
        request = stored.request
        policy = self.policy()
        profile = policy.profile(request.profile)
        if profile is None or request.ends_at is None:
            return
        problems = trust_problems(policy, stored)
        if problems:  # the extension that kept it going is not one the broker made or the policy allows
            self._refuse(stored, problems, AuditKind.GRANT_REBIND_FAILED, {"retry": False})
            return
        try:
            refs = self.cluster.bind(request, profile, policy.identity, request.ends_at)
        except KubejitError as error:
            self._failed(request.id, AuditKind.GRANT_REBIND_FAILED, error, {})
            return
        self._audit(
            AuditKind.BINDING_CREATED, request.id, {"bindings": binding_names(refs), "reason": "extended while ending"}
        )

    def time_out_pending(self) -> int:
        """Pending requests past the policy's pendingTimeout end as timed-out (audited, requester told)."""
        policy = self.policy()
        now = self.clock.now()
        with self.uow(read_only=True) as uow:
            pending = [s.request for s in uow.requests.find(states=[State.PENDING], limit=10_000)]
        self.stats.pending_by_profile = by_profile((r.profile for r in pending), policy.profile)
        late = [r for r in pending if now >= wf.pending_deadline(policy, r)]
        done = 0
        for request in late:
            with self.uow() as uow:
                stored = uow.requests.get(request.id)
                if stored.request.state is not State.PENDING:
                    continue
                timed_out = wf.time_out(policy, stored.request, now)
                try:
                    uow.requests.update(timed_out, stored.version)
                except StaleWrite:
                    continue
                self._append(
                    uow, AuditKind.REQUEST_TIMED_OUT, request.id, {"pending_since": request.created_at.isoformat()}, now
                )
                uow.commit()
            done += 1
            self.notifier.notify(
                Notification(
                    "request.timed-out",
                    timed_out,
                    now,
                    f"{request.id} for {request.profile} waited too long for review",
                )
            )
        if done:
            self.on_audit()
        return done

    def unbind_ended(self, page: int = 200) -> int:
        """Bindings of grants revoked after they started (possibly on another replica), until their removal is
        confirmed in the store: every such grant, however old and however many newer ones there are."""
        done = [0]
        after = ""
        while self.leader.is_leader():
            with self.uow(read_only=True) as uow:
                waiting = uow.requests.awaiting_unbind(after=after, limit=page)
            for stored in waiting:
                if not self.leader.is_leader():
                    break
                request = stored.request
                self._guarded(
                    f"removing the bindings of revoked grant {request.id}", partial(self._unbind_revoked, request, done)
                )
            if len(waiting) < page:
                break
            after = waiting[-1].request.id
        return done[0]

    def _unbind_revoked(self, request: AccessRequest, done: list[int]) -> None:
        if self._backing_off(request.id):
            return
        removed: list[BindingRef] = []
        if request.starts_at is not None:
            try:
                removed = self.cluster.unbind(request.id, request.namespaces)
            except KubejitError as error:
                self._failed(request.id, AuditKind.GRANT_UNBIND_FAILED, error, {})
                return
        self._succeeded(request.id)
        with self.uow() as uow:
            uow.requests.confirm_unbound(request.id)
            if removed:
                data: dict[str, object] = {"bindings": binding_names(removed), "reason": "grant revoked"}
                self._append(uow, AuditKind.BINDING_DELETED, request.id, data, self.clock.now())
            uow.commit()
        if removed:
            self.on_audit()
            self.stats.unbound_revoked += 1
            done[0] += 1

    def sync_end_times(self) -> int:
        """Write extended end times onto the grants' bindings (for people reading them; expiry uses the record)."""
        with self.uow(read_only=True) as uow:
            active = [
                s.request for s in uow.requests.find(states=[State.ACTIVE], limit=1_000_000) if s.seal is Seal.VALID
            ]
        changed = []
        for request in active:
            written = self._ends_written.get(request.id)
            if request.ends_at is not None and written != request.ends_at:
                if written is not None:
                    changed.append(request)
                self._ends_written[request.id] = request.ends_at

        def write(request: AccessRequest) -> None:
            try:
                self.cluster.set_end(request.id, request.ends_at or self.clock.now(), request.namespaces)
            except KubejitError as error:
                log.warning("could not record the new end time of %s on its bindings: %s", request.id, error)

        if changed:
            with ThreadPoolExecutor(max_workers=min(self.parallelism, len(changed))) as pool:
                list(pool.map(write, changed))
        return len(changed)

    def warn_expiring(self) -> None:
        soon = self.clock.now() + self.expiring_notice
        with self.uow(read_only=True) as uow:
            ending = uow.requests.ending_before(soon)
        for stored in ending:
            request = stored.request
            if request.id not in self._warned and request.ends_at is not None:
                self._warned.add(request.id)
                self.notifier.notify(
                    Notification(
                        "grant.expiring",
                        request,
                        self.clock.now(),
                        f"{request.requester.user}'s access {request.id} to {request.profile} ends at "
                        f"{request.ends_at.isoformat()}",
                    )
                )

    def _active_grants_check_due(self) -> bool:
        """Whether this pass runs the stages that read every active grant (the trust check, the end-time labels):
        once per ``trust_interval``, and at once after a policy reload."""
        now = self.clock.now()
        policy_changed = self.policy() is not self._trusted_under
        if not policy_changed and self._next_trust_check is not None and now < self._next_trust_check:
            return False
        self._next_trust_check = now + self.trust_interval
        return True

    def refuse_untrusted(self) -> int:
        """Take the access away from every active grant the keeper may not honour (its row not sealed by the
        broker, not supported by the current policy, or ended in the audit chain): its bindings are deleted,
        found by label (the row's namespaces are not to be believed). The row stays as it is, for the audit;
        expiry ends it as usual."""
        policy = self.policy()
        if policy is not self._trusted_under:
            self._trusted, self._trusted_under = {}, policy  # a new policy: check every grant again
        with self.uow(read_only=True) as uow:
            ended = self._endings.ended(uow)  # first: a grant ended after this read is not active below
            active = uow.requests.find(states=[State.ACTIVE], limit=1_000_000)
        refused, honoured = 0, []
        for stored in active:
            if stored.request.id in ended:
                problems = [ENDED_BY_CHAIN]
            elif stored.seal is Seal.VALID and self._trusted.get(stored.request.id) == stored.version:
                honoured.append(stored.request.profile)
                continue  # checked at this version, and not edited since (an edit that kept it breaks the seal)
            else:
                problems = trust_problems(policy, stored)
            if not problems:
                self._trusted[stored.request.id] = stored.version
                honoured.append(stored.request.profile)
                continue
            if not self.leader.is_leader():
                break
            refused += self._take_away(stored, problems)
        self.stats.active_by_profile = by_profile(honoured, policy.profile)
        return refused

    def _take_away(self, stored: Stored, problems: list[str]) -> int:
        try:
            removed = self.cluster.unbind(stored.request.id)
        except KubejitError as error:
            self._failed(stored.request.id, AuditKind.GRANT_UNBIND_FAILED, error, {"refused": problems})
            return 0
        first = self._refusals.first(stored, problems)
        if removed or first:
            self.stats.refused += 1
            self._audit(
                AuditKind.BINDING_DELETED,
                stored.request.id,
                {
                    "bindings": binding_names(removed),
                    "reason": "refused",
                    "refused": problems,
                    "version": stored.version,
                },
            )
        return 1

    def sweep(self) -> int:
        """Delete every binding labelled as this installation's that is not an active grant's own (see
        :class:`~kubejit.services.binding_sweep.BindingSweep`); returns how many grants' leftovers and
        unrecognized bindings were found."""
        self._next_sweep = self.clock.now() + self.sweep_interval
        return self._sweeper.run()

    def _tag(self, data: dict[str, object]) -> dict[str, object]:
        return {**data, "replica": self.replica} if self.replica else data

    def _append(self, uow: UnitOfWork, kind: AuditKind, request_id: str, data: dict[str, object], at: datetime) -> None:
        uow.audit.append(kind=kind, actor=ACTOR, at=at, request_id=request_id, data=self._tag(data))

    def _audit(self, kind: AuditKind, request_id: str, data: dict[str, object]) -> None:
        """One event in a transaction of its own."""
        with self.uow() as uow:
            self._append(uow, kind, request_id, data, self.clock.now())
            uow.commit()
        self.on_audit()
