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

Behind this API: ``_reconciler`` (:class:`GrantReconciler`: the order of the stages, the wait before the next
pass), over one mixin per stage: ``_activation``, ``_expiry`` (and end times on bindings), ``_deadlines``
(pending timeouts, expiring notices), ``_unbinding`` (revoked grants' bindings, the sweep) and ``_trust``
(refusals of active grants), all over ``_state`` (the fields, retries and audit helpers they share).
"""

from kubejit.services.reconciler._reconciler import GrantReconciler

__all__ = ["GrantReconciler"]
