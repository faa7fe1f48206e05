"""Leader election over a coordination.k8s.io/v1 Lease, so that one broker replica at a time acts on the cluster.

Several broker replicas may run for availability, but only one may run the expiry timers and the sweep of
labelled bindings (two would race on the same grant). :class:`LeaseElection` implements
:class:`kubejit.ports.LeaderElection`: a daemon thread acquires and renews a Lease with optimistic concurrency
(every write names the ``resourceVersion`` it read; a 409 means another replica won), and :meth:`stop`
releases it so a successor takes over on its next round instead of waiting for expiry.

What :meth:`LeaseElection.is_leader` guarantees, with D = lease_duration, M = safety_margin:

* it is true only while the last successful write naming this replica was *sent* less than D - M ago, on this
  process's monotonic clock. A replica that can no longer renew (partitioned, API down, thread stuck) steps
  down by itself, with no API call needed;
* a challenger takes over a held Lease only after seeing the same record (holder and resourceVersion)
  unchanged for the record's ``leaseDurationSeconds`` (>= D), counted from after it read the record, i.e.
  after the holder sent it. Remote ``renewTime`` is never compared with the local clock, so wall-clock skew
  between machines does not matter; only the *rates* of the clocks do, and M absorbs that and the time the
  leader needs to finish an action it started while ``is_leader()`` was true.

So a former leader stops claiming leadership at least M before anyone else can start: callers check
``is_leader()`` right before each action and keep each action shorter than M. Times are parameters
(``monotonic`` for decisions, ``clock`` for the timestamps written into the Lease) so the logic runs under a
fake clock; :meth:`try_acquire_or_renew` runs one round without the thread.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import httpx2
from lightkube import ApiError, Client
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

from kubejit.adapters.clock import SystemClock
from kubejit.adapters.kube.install import MANAGED_BY, MANAGED_BY_LABEL
from kubejit.domain.errors import Conflict, InvalidInput, KubejitError
from kubejit.ports import Clock

log = logging.getLogger(__name__)


class LeaseElection:
    """Holds (or waits for) one Lease; see the module docstring for what :meth:`is_leader` promises."""

    def __init__(
        self,
        client: Client,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: timedelta = timedelta(seconds=15),
        renew_interval: timedelta = timedelta(seconds=2),
        safety_margin: timedelta | None = None,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
        field_manager: str = "kubejit-broker",
    ) -> None:
        if not identity:
            raise InvalidInput("a leader-election identity must not be empty (use the pod name)")
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self._duration = lease_duration.total_seconds()
        self._interval = renew_interval.total_seconds()
        margin = safety_margin.total_seconds() if safety_margin is not None else max(self._duration / 5, self._interval)
        if self._duration < 1 or self._interval <= 0 or margin <= 0:
            raise InvalidInput("lease_duration must be at least 1s; renew_interval and safety_margin positive")
        if self._interval >= self._duration - margin:
            raise InvalidInput(
                f"renew_interval ({self._interval:g}s) must be shorter than lease_duration minus the safety margin "
                f"({self._duration:g}s - {margin:g}s), or a healthy leader would lapse between renewals"
            )
        self._margin = margin
        self._record_seconds = math.ceil(self._duration)  # what challengers wait: never less than ours
        self._client = client
        self._clock: Clock = clock or SystemClock()
        self._monotonic = monotonic
        self._on_change = on_change
        self._field_manager = field_manager

        self._lock = threading.Lock()
        self._valid_until: float | None = None  # monotonic deadline of our leadership; None: not holding
        self._observed: tuple[str, str] | None = None  # (holder, resourceVersion) last seen
        self._observed_at = 0.0
        self._reported = False
        self._notify_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- LeaderElection -------------------------------------------------------------------------------------

    def is_leader(self) -> bool:
        with self._lock:
            return self._valid_until is not None and self._monotonic() < self._valid_until

    # ---- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start campaigning in a daemon thread (once per instance)."""
        if self._thread is not None:
            raise Conflict(f"leader election for Lease {self.namespace}/{self.name} was already started")
        self._thread = threading.Thread(target=self._run, name=f"kubejit-lease-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, *, release: bool = True, timeout: float = 15.0) -> None:
        """Stop campaigning, step down at once, and release the Lease if held so a successor need not wait.

        Never raises: if releasing fails, the Lease simply expires.
        """
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            self._valid_until = None
        self._notify()
        if release:
            self.release()

    def release(self) -> None:
        """Give the Lease up if the cluster says this replica holds it (holder emptied, duration 1s)."""
        try:
            lease = self._read()
            spec = lease.spec if lease is not None else None
            if lease is None or spec is None or spec.holderIdentity != self.identity:
                return
            spec.holderIdentity = ""
            spec.leaseDurationSeconds = 1
            spec.renewTime = self._clock.now()
            self._client.replace(lease, field_manager=self._field_manager)
            log.info("released Lease %s/%s", self.namespace, self.name)
        except (ApiError, httpx2.HTTPError) as error:
            log.warning("could not release Lease %s/%s (it will expire instead): %s", self.namespace, self.name, error)

    # ---- one round ------------------------------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """Read the Lease once and acquire, renew or wait; returns :meth:`is_leader` afterwards."""
        try:
            self._round()
        except ApiError as error:
            if error.status.code == 409:
                self._lose()  # someone else wrote first
            else:
                log.warning("Lease %s/%s: %s", self.namespace, self.name, error.status.message or error)
        except (httpx2.HTTPError, KubejitError) as error:
            log.warning("Lease %s/%s: cannot reach the Kubernetes API: %s", self.namespace, self.name, error)
        self._notify()
        return self.is_leader()

    def _round(self) -> None:
        lease = self._read()
        seen_at = self._monotonic()
        if lease is None:
            self._write_new()
            return
        meta = lease.metadata or ObjectMeta()
        spec = lease.spec or LeaseSpec()
        holder = spec.holderIdentity or ""
        record = (holder, meta.resourceVersion or "")
        if record != self._observed:
            self._observed, self._observed_at = record, seen_at
        if holder == self.identity:
            self._write(lease, spec, acquired=False)
            return
        held_for = spec.leaseDurationSeconds or self._record_seconds
        if holder and seen_at - self._observed_at < held_for:
            self._lose()  # held by someone who still renews (or might)
            return
        self._write(lease, spec, acquired=True)

    def _read(self) -> Lease | None:
        try:
            return self._client.get(Lease, self.name, namespace=self.namespace)
        except ApiError as error:
            if error.status.code == 404:
                return None
            raise

    def _write_new(self) -> None:
        now = self._clock.now()
        lease = Lease(
            metadata=ObjectMeta(name=self.name, namespace=self.namespace, labels={MANAGED_BY_LABEL: MANAGED_BY}),
            spec=LeaseSpec(
                holderIdentity=self.identity,
                leaseDurationSeconds=self._record_seconds,
                acquireTime=now,
                renewTime=now,
                leaseTransitions=0,
            ),
        )
        sent = self._monotonic()
        self._client.create(lease, field_manager=self._field_manager)
        self._won(sent)
        log.info("acquired new Lease %s/%s as %s", self.namespace, self.name, self.identity)

    def _write(self, lease: Lease, spec: LeaseSpec, *, acquired: bool) -> None:
        """Renew our record, or take the Lease over; the resourceVersion read makes a concurrent write a 409."""
        now = self._clock.now()
        if acquired:
            spec.leaseTransitions = (spec.leaseTransitions or 0) + 1
            spec.acquireTime = now
        spec.holderIdentity = self.identity
        spec.leaseDurationSeconds = self._record_seconds
        spec.renewTime = now
        lease.spec = spec
        sent = self._monotonic()
        self._client.replace(lease, field_manager=self._field_manager)
        self._won(sent)
        if acquired:
            log.info("took over Lease %s/%s as %s", self.namespace, self.name, self.identity)

    def _won(self, sent: float) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self._valid_until = sent + self._duration - self._margin

    def _lose(self) -> None:
        with self._lock:
            self._valid_until = None

    def _notify(self) -> None:
        leader = self.is_leader()
        with self._notify_lock:
            if leader == self._reported:
                return
            self._reported = leader
        log.info("%s %s Lease %s/%s", self.identity, "holds" if leader else "lost", self.namespace, self.name)
        if self._on_change is not None:
            try:
                self._on_change(leader)
            except Exception:
                log.exception("the leadership on_change callback failed")

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.try_acquire_or_renew()
            except Exception:  # a bug must not end the campaign silently; leadership lapses by itself meanwhile
                log.exception("leader election round for Lease %s/%s failed", self.namespace, self.name)
            wait = self._interval
            with self._lock:
                left = None if self._valid_until is None else self._valid_until - self._monotonic()
            if left is not None and left > 0:  # wake when leadership would lapse, to report it on time
                wait = min(wait, left + 0.001)
            self._stopping.wait(wait)
