"""The SQL store against real databases: SQLite in a temporary file and PostgreSQL (a fresh database per test).

Every test that touches a database runs on both. The requests stored are real ones, made by the workflow's own
transitions; the concurrency tests use real threads and real transactions, not mocks.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError

from kubejit.adapters.store import SqlStore, documents
from kubejit.adapters.store.schema import Base
from kubejit.adapters.store.seals import load_or_create_seal_key
from kubejit.domain import workflow as wf
from kubejit.domain.audit import GENESIS_HASH, AuditEntry, verify
from kubejit.domain.errors import Conflict, InvalidInput, NotFound, StaleWrite, Unavailable
from kubejit.domain.policy import Identity
from kubejit.domain.workflow import AccessRequest, Extension, Review, State, Verdict
from kubejit.ports import Seal
from tests.unit.policies import (
    ALICE,
    BOB,
    CAROL,
    auto_for_oncall,
    break_glass,
    policy,
    profile,
    quorum_of_two,
)

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = policy(profile(), quorum_of_two(), auto_for_oncall(), break_glass())
DAN = Identity("dan", frozenset({"payments-devs"}))


def submit(
    request_id: str,
    who: Identity = ALICE,
    profile_name: str = "payments-debug",
    now: datetime = T0,
    duration: timedelta = timedelta(minutes=30),
    **kwargs: bool,
) -> AccessRequest:
    return wf.submit(
        POLICY,
        request_id=request_id,
        profile_name=profile_name,
        requester=who,
        namespaces=("payments",),
        duration=duration,
        reason="INC-42 checkout errors",
        now=now,
        **kwargs,
    )


def active(request_id: str, started: datetime, duration: timedelta = timedelta(minutes=30)) -> AccessRequest:
    request = submit(request_id, now=started - timedelta(minutes=2), duration=duration)
    return wf.activate(wf.approve(POLICY, request, BOB, started - timedelta(minutes=1)), started)


# ---- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('store') / 'kubejit.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    opened = SqlStore(database_url)
    opened.migrate()
    yield opened
    opened.dispose()


def add(store: SqlStore, *requests: AccessRequest) -> None:
    with store() as uow:
        for request in requests:
            uow.requests.add(request)
        uow.commit()


def raw_sql(url: str, statement: str, **parameters: object) -> None:
    """Run SQL around kubejit, as an operator (or an intruder) with database access would."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement), parameters)
    finally:
        engine.dispose()


# ---- schema -----------------------------------------------------------------------------------------------------


def test_migrate_twice_is_a_no_op_and_the_models_match_the_migrations(database_url: str) -> None:
    store = SqlStore(database_url)
    try:
        store.migrate()
        store.migrate()
        with store._engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            expected = {"requests", "audit_events", "audit_head", "idempotency_keys", "activity_marks"}
            assert expected | {"kubejit_alembic_version"} <= tables
            assert connection.execute(text("SELECT version_num FROM kubejit_alembic_version")).scalars().all() == [
                "0005"
            ]
            context = MigrationContext.configure(
                connection, opts={"version_table": "kubejit_alembic_version", "compare_type": True}
            )
            assert compare_metadata(context, Base.metadata) == []
        with store() as uow:
            assert uow.audit.head() is None
    finally:
        store.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path_factory: pytest.TempPathFactory) -> None:
    store = SqlStore(f"sqlite:///{tmp_path_factory.mktemp('wal') / 'kubejit.db'}")
    try:
        store.migrate()
        with store() as uow:
            connection = uow.connection()
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30_000
    finally:
        store.dispose()


def test_bad_urls_are_refused_and_passwords_never_shown() -> None:
    with pytest.raises(InvalidInput, match="not valid"):
        SqlStore("not a url")
    with pytest.raises(InvalidInput, match=r"mysql://kubejit:\*\*\*@db/kubejit"):
        SqlStore("mysql://kubejit:hunter2@db/kubejit")
    store = SqlStore("postgresql+psycopg://kubejit:hunter2@127.0.0.1:1/kubejit")
    try:
        assert "hunter2" not in repr(store)
        with pytest.raises(Unavailable) as caught, store():
            pass
        assert "hunter2" not in str(caught.value)
        assert "kubejit:***@127.0.0.1:1" in str(caught.value)
        with pytest.raises(Unavailable) as caught:
            store.migrate()
        assert "hunter2" not in str(caught.value)
    finally:
        store.dispose()


# ---- requests ---------------------------------------------------------------------------------------------------


def test_add_get_update(store: SqlStore) -> None:
    request = submit("r1")
    with store() as uow:
        assert uow.requests.add(request) == (stored := uow.requests.get("r1"))
        assert stored.version == 1
        uow.commit()
    approved = wf.approve(POLICY, request, BOB, T0 + timedelta(minutes=1), "ok")
    with store() as uow:
        assert uow.requests.update(approved, 1).version == 2
        uow.commit()
    with store() as uow:
        again = uow.requests.get("r1")
        assert again.request == approved
        assert again.version == 2
        with pytest.raises(Conflict, match="already exists"):
            uow.requests.add(request)
        with pytest.raises(NotFound, match="there is no request nope"):
            uow.requests.get("nope")
        with pytest.raises(NotFound):
            uow.requests.update(replace(approved, id="nope"), 1)
        with pytest.raises(StaleWrite):
            uow.requests.update(approved, 1)


def test_a_conflicting_add_leaves_the_transaction_usable(store: SqlStore) -> None:
    add(store, submit("r1"))
    with store() as uow:
        with pytest.raises(Conflict):
            uow.requests.add(submit("r1"))
        uow.requests.add(submit("r2"))
        uow.audit.append(kind="request.submitted", actor="alice", at=T0, request_id="r2")
        uow.commit()
    with store() as uow:
        assert uow.requests.get("r2").version == 1
        assert [e.request_id for e in uow.audit.events()] == ["r2"]


def test_find_filters_and_orders_newest_first(store: SqlStore) -> None:
    r1 = submit("r1", ALICE, now=T0)
    r2 = submit("r2", DAN, now=T0 + timedelta(minutes=1))
    r3 = submit("r3", ALICE, "payments-admin", now=T0 + timedelta(minutes=2))
    r4 = wf.deny(POLICY, submit("r4", ALICE, now=T0 + timedelta(minutes=3)), BOB, T0 + timedelta(minutes=4), "no")
    add(store, r1, r2, r3, r4)
    with store() as uow:

        def ids(**filters: object) -> list[str]:
            return [s.request.id for s in uow.requests.find(**filters)]  # type: ignore[arg-type]

        assert ids() == ["r4", "r3", "r2", "r1"]
        assert ids(limit=2) == ["r4", "r3"]
        assert ids(states=[State.PENDING]) == ["r3", "r2", "r1"]
        assert ids(states=[State.DENIED, State.APPROVED]) == ["r4"]
        assert ids(states=[]) == []
        assert ids(requester="alice") == ["r4", "r3", "r1"]
        assert ids(profiles=["payments-admin"]) == ["r3"]
        assert ids(requester="alice", states=[State.PENDING], profiles=["payments-debug", "payments-admin"]) == [
            "r3",
            "r1",
        ]
        assert uow.requests.find(requester="alice", states=[State.DENIED])[0].request == r4


def test_ending_before_and_next_end_see_only_active_grants(store: SqlStore) -> None:
    early = active("early", T0, timedelta(minutes=10))
    late = active("late", T0, timedelta(minutes=30))
    middle = active("middle", T0 + timedelta(minutes=5), timedelta(minutes=10))
    revoked = wf.revoke(POLICY, active("revoked", T0, timedelta(minutes=5)), ALICE, T0 + timedelta(minutes=1))
    approved_only = wf.approve(POLICY, submit("approved"), BOB, T0)
    with store() as uow:
        assert uow.requests.next_end() is None
        assert uow.requests.ending_before(T0 + timedelta(days=1)) == []
    add(store, late, middle, early, revoked, approved_only)
    with store() as uow:
        assert uow.requests.next_end() == T0 + timedelta(minutes=10)
        assert uow.requests.next_end().tzinfo is not None  # type: ignore[union-attr]
        assert [s.request.id for s in uow.requests.ending_before(T0 + timedelta(minutes=9))] == []
        assert [s.request.id for s in uow.requests.ending_before(T0 + timedelta(minutes=10))] == ["early"]
        # a time in another zone means the same instant
        elsewhere = (T0 + timedelta(minutes=15)).astimezone(timezone(timedelta(hours=2)))
        assert [s.request.id for s in uow.requests.ending_before(elsewhere)] == ["early", "middle"]
        in_an_hour = uow.requests.ending_before(T0 + timedelta(hours=1))
        assert [s.request.id for s in in_an_hour] == ["early", "middle", "late"]
        stored = uow.requests.get("early")
        uow.requests.update(wf.expire(stored.request, T0 + timedelta(minutes=10)), stored.version)
        uow.commit()
    with store() as uow:
        assert uow.requests.next_end() == T0 + timedelta(minutes=15)


def test_naive_times_are_refused(store: SqlStore) -> None:
    with store() as uow, pytest.raises(ValueError, match="when must be a timezone-aware datetime"):
        uow.requests.ending_before(datetime(2026, 1, 1, 12, 0))


# ---- optimistic concurrency -------------------------------------------------------------------------------------


def test_two_writers_that_read_the_same_version_one_wins_one_is_stale(store: SqlStore) -> None:
    add(store, submit("r1", profile_name="payments-admin"))
    # Both read version 1 at the same time (readers never wait) ...
    with store(read_only=True) as first, store(read_only=True) as second:
        seen_by_bob = first.requests.get("r1")
        seen_by_carol = second.requests.get("r1")
    assert seen_by_bob.version == seen_by_carol.version == 1
    # ... then both write what they decided from it.
    with store() as uow:
        uow.requests.update(wf.approve(POLICY, seen_by_bob.request, BOB, T0), seen_by_bob.version)
        uow.commit()
    with store() as uow, pytest.raises(StaleWrite, match="read it again"):
        uow.requests.update(wf.approve(POLICY, seen_by_carol.request, CAROL, T0), seen_by_carol.version)
    with store() as uow:
        stored = uow.requests.get("r1")
    assert stored.version == 2
    assert stored.request.approvers == ("bob",)  # carol's approval was not written over bob's


def run_threads(count: int, work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            start.wait(timeout=30)
            work(index)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    assert errors == []


def test_racing_approvers_produce_exactly_one_transition(store: SqlStore) -> None:
    add(store, submit("r1"))
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def approve(index: int) -> None:
        reviewer = Identity(f"lead-{index}", frozenset({"payments-leads"}))
        for _ in range(50):
            try:
                with store() as uow:
                    stored = uow.requests.get("r1")
                    decided = wf.approve(POLICY, stored.request, reviewer, T0 + timedelta(seconds=index))
                    uow.requests.update(decided, stored.version)
                    uow.audit.append(kind="request.approved", actor=reviewer.user, at=T0, request_id="r1")
                    uow.commit()
            except StaleWrite:
                with lock:
                    outcomes["stale, retried"] += 1
                continue
            except Conflict:
                with lock:
                    outcomes["refused: no longer pending"] += 1
                return
            with lock:
                outcomes["approved"] += 1
            return
        raise AssertionError("still stale after 50 tries")

    run_threads(8, approve)
    assert outcomes["approved"] == 1
    assert outcomes["refused: no longer pending"] == 7
    with store() as uow:
        stored = uow.requests.get("r1")
        events = list(uow.audit.events())
    assert stored.request.state is State.APPROVED
    assert stored.version == 2
    assert len(stored.request.reviews) == 1
    assert [(e.kind, e.actor) for e in events] == [("request.approved", stored.request.approvers[0])]


# ---- the audit trail --------------------------------------------------------------------------------------------


def test_concurrent_appends_make_one_gap_free_valid_chain(store: SqlStore) -> None:
    def append(index: int) -> None:
        for n in range(15):
            with store() as uow:
                uow.audit.append(
                    kind="test.event", actor=f"worker-{index}", at=T0 + timedelta(microseconds=n), data={"n": n}
                )
                uow.commit()

    run_threads(6, append)
    with store() as uow:
        events = list(uow.audit.events())
        head = uow.audit.head()
    assert [e.seq for e in events] == list(range(1, 91))
    assert verify(events).ok
    assert head == events[-1]
    assert Counter(e.actor for e in events) == {f"worker-{i}": 15 for i in range(6)}


def test_a_batch_is_chained_after_single_appends_and_interleaves_with_concurrent_ones(store: SqlStore) -> None:
    with store() as uow:
        uow.audit.append(kind="request.submitted", actor="alice", at=T0, request_id="r1")
        assert uow.audit.append_many([], at=T0) == []
        uow.commit()

    def append(index: int) -> None:
        for n in range(5):
            with store() as uow:
                if index % 2:
                    entries = [AuditEntry("activity.request", f"w{index}", "r1", {"n": n, "i": i}) for i in range(7)]
                    uow.audit.append_many(entries, at=T0 + timedelta(seconds=n))
                else:
                    uow.audit.append(kind="test.event", actor=f"w{index}", at=T0, data={"n": n})
                uow.commit()

    run_threads(4, append)
    with store() as uow:
        events = list(uow.audit.events())
        head = uow.audit.head()
    assert [e.seq for e in events] == list(range(1, 1 + 1 + 2 * 5 + 2 * 5 * 7))
    assert verify(events).ok
    assert head == events[-1]
    batch = [e for e in events if e.actor == "w1" and e.data["n"] == 0]
    assert [e.data["i"] for e in batch] == list(range(7))
    assert [e.seq for e in batch] == list(range(batch[0].seq, batch[0].seq + 7))  # a batch is contiguous


def test_activity_marks_start_at_zero_and_follow_the_highest_number(store: SqlStore) -> None:
    with store() as uow:
        assert uow.idempotency.activity_mark("gw/1") == 0
        uow.idempotency.set_activity_mark("gw/1", 7, T0)
        uow.commit()
    with store() as uow:
        assert uow.idempotency.activity_mark("gw/1") == 7
        uow.idempotency.set_activity_mark("gw/1", 12, T0 + timedelta(seconds=1))
        # leaving without commit: nothing changes
    with store() as uow:
        assert uow.idempotency.activity_mark("gw/1") == 7
        assert uow.idempotency.activity_mark("gw/2") == 0


def test_a_marks_time_is_when_its_gateway_process_was_last_heard_from(store: SqlStore) -> None:
    with store() as uow:
        uow.idempotency.set_activity_mark("gw/1", 0, T0)  # an empty first batch: a heartbeat
        uow.idempotency.set_activity_mark("gw/2", 3, T0 + timedelta(seconds=2))
        uow.commit()
    with store() as uow:
        uow.idempotency.set_activity_mark("gw/1", 0, T0 + timedelta(seconds=5))
        uow.commit()
    with store(read_only=True) as uow:
        assert uow.idempotency.last_heard(["gw/1", "gw/2", "gw/3"]) == {
            "gw/1": T0 + timedelta(seconds=5),
            "gw/2": T0 + timedelta(seconds=2),
        }
        assert uow.idempotency.last_heard([]) == {}


def test_events_stream_in_order_and_query_filters(store: SqlStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    with store() as uow:
        first = uow.audit.append(kind="request.submitted", actor="alice", at=T0.astimezone(plus_two), request_id="r1")
        uow.audit.append(kind="request.submitted", actor="dan", at=T0 + timedelta(minutes=1), request_id="r2")
        uow.audit.append(kind="request.approved", actor="bob", at=T0 + timedelta(minutes=2), request_id="r1")
        uow.audit.append(
            kind="policy.loaded", actor="kubejit", at=T0 + timedelta(minutes=3), data={"name": "ü", "f": 0.1, "l": [1]}
        )
        uow.commit()
    assert first.prev_hash == GENESIS_HASH
    with store() as uow:
        events = list(uow.audit.events())
        assert verify(events).ok
        assert events[0] == first
        assert events[0].at.tzinfo is not None
        assert events[0].at == T0
        assert events[3].data == {"name": "ü", "f": 0.1, "l": [1]}
        assert [e.seq for e in uow.audit.events(after_seq=2)] == [3, 4]
        assert [e.seq for e in uow.audit.query(request_id="r1")] == [1, 3]
        assert [e.seq for e in uow.audit.query(actor="dan")] == [2]
        assert [e.seq for e in uow.audit.query(since=T0 + timedelta(minutes=2))] == [3, 4]
        assert [e.seq for e in uow.audit.query(request_ids=["r2", "r1"])] == [1, 2, 3]
        assert [e.seq for e in uow.audit.query(request_ids=[])] == []
        assert [e.seq for e in uow.audit.query(limit=2)] == [1, 2]
        assert [e.seq for e in uow.audit.query(request_id="r1", actor="bob")] == [3]
        assert uow.audit.head() == events[-1]


def test_audit_query_filters_kinds_and_pages_after_a_seq(store: SqlStore) -> None:
    kinds = ["request.submitted", "request.approved", "grant.revoked", "request.submitted", "grant.revoked"]
    with store() as uow:
        for n, kind in enumerate(kinds):
            uow.audit.append(kind=kind, actor="bob", at=T0 + timedelta(minutes=n), request_id=f"r{n % 2}")
        uow.commit()
    with store() as uow:

        def seqs(**filters: object) -> list[int]:
            return [e.seq for e in uow.audit.query(**filters)]  # type: ignore[arg-type]

        assert seqs(kinds=["grant.revoked"]) == [3, 5]
        assert seqs(kinds=["grant.revoked", "request.approved"]) == [2, 3, 5]
        assert seqs(kinds=[]) == []
        assert seqs(after_seq=3) == [4, 5]
        assert seqs(after_seq=1, limit=2) == [2, 3]
        assert seqs(after_seq=2, kinds=["request.submitted"], request_ids=["r1"]) == [4]
        assert seqs(after_seq=5) == []


def _plan(store: SqlStore, run: Callable[[], object]) -> str:
    """The database's plan of the last SELECT ``run`` sends (on PostgreSQL: with sequential scans made dear)."""
    sent: list[tuple[str, object]] = []

    def remember(_conn: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(store._engine, "before_cursor_execute", remember)
    try:
        run()
    finally:
        event.remove(store._engine, "before_cursor_execute", remember)
    statement, parameters = sent[-1]
    with store._engine.connect() as connection:
        if store.backend == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()  # type: ignore[arg-type]
            return "\n".join(str(row[-1]) for row in rows)
        connection.exec_driver_sql("SET enable_seqscan = off")  # as if the table were large
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()  # type: ignore[arg-type]
        return "\n".join(str(row[0]) for row in rows)


def test_with_id_prefix_takes_the_prefix_literally_and_pages_by_id(store: SqlStore) -> None:
    ids = ["req-ab1", "req-ab2", "req-ac1", "req-a_x", "req-a%y", "REQ-AB3", "req-a\\b", "req-aby"]
    add(store, *(submit(request_id, now=T0 + timedelta(seconds=n)) for n, request_id in enumerate(ids)))
    with store(read_only=True) as uow:

        def found(prefix: str, **paging: object) -> list[str]:
            return [s.request.id for s in uow.requests.with_id_prefix(prefix, **paging)]  # type: ignore[arg-type]

        assert found("req-ab") == ["req-ab1", "req-ab2", "req-aby"]  # not REQ-AB3: case counts
        assert found("req-a_") == ["req-a_x"]  # _ and % are no wildcards
        assert found("req-a%") == ["req-a%y"]
        assert found("req-a\\") == ["req-a\\b"]
        assert found("req-ab", after="req-ab1", limit=1) == ["req-ab2"]
        assert found("req-ab", limit=0) == []
        assert found("req-z") == []
        assert found("req-ab2") == ["req-ab2"]
        with pytest.raises(ValueError, match="empty"):
            found("")


def test_with_id_prefix_and_the_audit_pages_are_served_by_indexes(store: SqlStore) -> None:
    add(store, submit("req-ab1"), submit("req-cd2"))

    def prefix() -> object:
        with store(read_only=True) as uow:
            return uow.requests.with_id_prefix("req-ab", after="req-a")

    def audit_page() -> object:
        with store(read_only=True) as uow:
            return uow.audit.query(after_seq=1, kinds=["grant.revoked"], limit=10)

    prefix_plan, audit_plan = _plan(store, prefix), _plan(store, audit_page)
    if store.backend == "sqlite":
        assert "SEARCH requests USING" in prefix_plan, prefix_plan
        assert "(id>? AND id<?)" in prefix_plan, prefix_plan
        assert "SEARCH audit_events USING INTEGER PRIMARY KEY (rowid>?)" in audit_plan, audit_plan
    else:
        assert "Index Scan using ix_requests_id_pattern" in prefix_plan, prefix_plan
        assert "Index Cond: (((id)::text ~>=~" in prefix_plan, prefix_plan
        assert "Index Cond: (seq > " in audit_plan, audit_plan


def test_events_are_streamed_in_chunks(store: SqlStore) -> None:
    with store() as uow:
        for n in range(1203):
            uow.audit.append(kind="test.event", actor="kubejit", at=T0, data={"n": n})
        uow.commit()
    with store() as uow:
        stream = uow.audit.events(after_seq=1)
        assert next(stream).seq == 2
        assert verify(uow.audit.events()).events == 1203
        assert sum(1 for _ in stream) == 1201
        assert verify(uow.audit.events()).ok


def test_unsealed_lists_only_rows_without_a_seal_oldest_first(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    sealed = SqlStore(database_url, seal_key=load_or_create_seal_key(tmp_path_factory.mktemp("seal") / "seal.key"))
    sealed.migrate()
    try:
        add(sealed, *(submit(f"r{n}", now=T0 + timedelta(minutes=n)) for n in range(4)))
        raw_sql(database_url, "UPDATE requests SET seal = NULL WHERE id IN ('r0', 'r3')")
        raw_sql(database_url, "UPDATE requests SET seal = '' WHERE id = 'r2'")
        with sealed(read_only=True) as uow:
            unsealed = list(uow.requests.unsealed())
        assert [s.request.id for s in unsealed] == ["r0", "r2", "r3"]
        assert {s.seal for s in unsealed} == {Seal.MISSING}
    finally:
        sealed.dispose()


def test_a_failing_audit_insert_rolls_back_the_state_change(store: SqlStore, database_url: str) -> None:
    add(store, submit("r1"))
    # Someone wrote event 1 behind kubejit's back: the next append cannot get its sequence number.
    raw_sql(
        database_url,
        "INSERT INTO audit_events (seq, at, kind, actor, request_id, data, prev_hash, hash) "
        "VALUES (1, :at, 'forged', 'mallory', '', '{}', :genesis, 'x')",
        at=T0,
        genesis=GENESIS_HASH,
    )
    with store() as uow:
        stored = uow.requests.get("r1")
        uow.requests.update(wf.approve(POLICY, stored.request, BOB, T0), stored.version)
        with pytest.raises(Unavailable, match="could not write audit event 1"):
            uow.audit.append(kind="request.approved", actor="bob", at=T0, request_id="r1")
    with store() as uow:
        assert uow.requests.get("r1").version == 1
        assert uow.requests.get("r1").request.state is State.PENDING
        assert uow.audit.head() is None


def test_audit_data_without_a_canonical_form_rolls_back_everything(store: SqlStore) -> None:
    add(store, submit("r1"))

    def approve_with_bad_audit_data() -> None:
        with store() as uow:
            stored = uow.requests.get("r1")
            uow.requests.update(wf.approve(POLICY, stored.request, BOB, T0), stored.version)
            uow.audit.append(kind="request.approved", actor="bob", at=T0, request_id="r1", data={"x": float("nan")})
            uow.commit()

    with pytest.raises(ValueError, match="JSON"):
        approve_with_bad_audit_data()
    with store() as uow:
        assert uow.requests.get("r1").request.state is State.PENDING


def test_the_database_refuses_to_change_or_delete_audit_events(store: SqlStore, database_url: str) -> None:
    with store() as uow:
        uow.audit.append(kind="request.submitted", actor="alice", at=T0)
        uow.commit()
    for statement in ("UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            raw_sql(database_url, statement)
    with store() as uow:
        assert verify(uow.audit.events()).ok


def test_a_head_that_names_a_missing_event_stops_appends(store: SqlStore, database_url: str) -> None:
    with store() as uow:
        uow.audit.append(kind="request.submitted", actor="alice", at=T0)
        uow.commit()
    raw_sql(database_url, "UPDATE audit_head SET seq = 7")
    with store() as uow:
        with pytest.raises(Unavailable, match="head names event 7"):
            uow.audit.head()
        with pytest.raises(Unavailable, match="run `kubejit audit verify`"):
            uow.audit.append(kind="request.submitted", actor="alice", at=T0)


# ---- units of work ----------------------------------------------------------------------------------------------


def test_leaving_without_commit_rolls_back(store: SqlStore) -> None:
    with store() as uow:
        uow.requests.add(submit("r1"))
        uow.audit.append(kind="request.submitted", actor="alice", at=T0, request_id="r1")

    def fail_midway() -> None:
        with store() as uow:
            uow.requests.add(submit("r2"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_midway()
    with store() as uow:
        assert uow.requests.find() == []
        assert uow.audit.head() is None


def test_a_unit_of_work_is_used_once(store: SqlStore) -> None:
    uow = store()
    with uow:
        uow.requests.add(submit("r1"))
        uow.commit()
        with pytest.raises(RuntimeError, match="before commit"):
            uow.requests.get("r1")
        with pytest.raises(RuntimeError):
            uow.commit()
    with pytest.raises(RuntimeError, match="used once"), uow:
        pass
    with pytest.raises(RuntimeError, match="inside `with`"):
        store().requests.get("r1")


def test_read_only_units_of_work_do_not_wait_for_writers_and_refuse_writes(store: SqlStore) -> None:
    add(store, submit("r1"))
    with store() as writer:
        writer.requests.add(submit("r2"))
        with store(read_only=True) as reader:  # a writer holds the write lock meanwhile
            assert [s.request.id for s in reader.requests.find()] == ["r1"]
            with pytest.raises(RuntimeError, match="read-only"):
                reader.requests.add(submit("r3"))
        writer.commit()
    for n in range(3):  # connections that served read-only work are writable again for the next unit of work
        with store(read_only=True) as reader:
            reader.requests.get("r1")
        with store() as writer:
            writer.requests.add(submit(f"more-{n}"))
            writer.commit()


# ---- idempotency keys -------------------------------------------------------------------------------------------


def test_idempotency_keys(store: SqlStore) -> None:
    add(store, submit("r1"), submit("r2"))
    with store() as uow:
        assert uow.idempotency.remembered("alice", "k1") is None
        uow.idempotency.remember("alice", "k1", "r1", T0)
        uow.idempotency.remember("alice", "k1", "r1", T0)  # the same again is fine
        uow.idempotency.remember("dan", "k1", "r2", T0)  # keys belong to their user
        with pytest.raises(Conflict, match="already used idempotency key 'k1' for request r1"):
            uow.idempotency.remember("alice", "k1", "r2", T0)
        uow.commit()
    with store() as uow:
        assert uow.idempotency.remembered("alice", "k1") == "r1"
        assert uow.idempotency.remembered("dan", "k1") == "r2"
        assert uow.idempotency.remembered("alice", "k2") is None
    with store() as uow, pytest.raises(NotFound, match="no request r9"):
        uow.idempotency.remember("alice", "k2", "r9", T0)


# ---- serialization ----------------------------------------------------------------------------------------------


def elaborate_requests() -> list[AccessRequest]:
    """Requests with every kind of history: quorum reviews, extensions, break-glass and its review, ends."""
    plus_two = timezone(timedelta(hours=2))
    t = T0.astimezone(plus_two)  # times in another zone come back as the same instants in UTC
    quorum = submit("quorum", ALICE, "payments-admin", now=t)
    quorum = wf.approve(POLICY, quorum, BOB, t + timedelta(minutes=1), "first")
    quorum = wf.approve(POLICY, quorum, CAROL, t + timedelta(minutes=2, microseconds=7), "second, with ünïcode")
    quorum = wf.activate(quorum, t + timedelta(minutes=3))

    extended = submit("extended", ALICE, "payments-oncall", now=t, duration=timedelta(minutes=45, seconds=1.5))
    extended = wf.activate(wf.approve(POLICY, extended, BOB, t + timedelta(minutes=1)), t + timedelta(minutes=2))
    extended = wf.request_extension(
        POLICY, extended, ALICE, timedelta(minutes=15), "INC-42 more", t + timedelta(minutes=5)
    )
    extended = wf.review_extension(POLICY, extended, BOB, Verdict.APPROVE, t + timedelta(minutes=6), "fine")
    extended = wf.request_extension(
        POLICY, extended, ALICE, timedelta(minutes=10), "INC-42 again", t + timedelta(minutes=7)
    )

    glass = submit("glass", CAROL, "payments-emergency", now=t, break_glass=True)
    glass = wf.activate(glass, t + timedelta(seconds=1))
    glass = wf.review_break_glass(POLICY, glass, BOB, Verdict.DENY, t + timedelta(hours=1), "should have asked")
    glass = wf.revoke(POLICY, glass, BOB, t + timedelta(minutes=20), "review")

    denied = wf.deny(POLICY, submit("denied", DAN, now=t), BOB, t + timedelta(minutes=1), "not for this incident")
    auto = submit("auto", CAROL, "payments-oncall", now=t)
    return [quorum, extended, glass, denied, auto]


def test_round_trip_of_elaborate_requests(store: SqlStore) -> None:
    requests = elaborate_requests()
    assert requests[1].extensions[0].state is State.APPROVED
    assert requests[1].pending_extension is not None
    assert requests[2].break_glass_review is not None
    assert requests[4].auto_approved
    add(store, *requests)
    with store() as uow:
        for request in requests:
            assert uow.requests.get(request.id).request == request
        found = {s.request.id: s.request for s in uow.requests.find()}
    assert found == {r.id: r for r in requests}
    assert all(r.created_at.utcoffset() == timedelta(0) for r in found.values())


_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])
_TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=_ZONES)
_DURATIONS = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=1000))
_TEXT = st.text(max_size=12)
_REVIEWS = st.builds(Review, reviewer=_TEXT, verdict=st.sampled_from(Verdict), at=_TIMES, comment=_TEXT)
_EXTENSIONS = st.builds(
    Extension,
    duration=_DURATIONS,
    reason=_TEXT,
    requested_at=_TIMES,
    state=st.sampled_from(State),
    reviews=st.lists(_REVIEWS, max_size=3).map(tuple),
    auto_approved=st.booleans(),
)
_REQUESTS = st.builds(
    AccessRequest,
    id=_TEXT,
    requester=st.builds(Identity, user=_TEXT, groups=st.frozensets(_TEXT, max_size=3)),
    profile=_TEXT,
    namespaces=st.lists(_TEXT, max_size=3).map(tuple),
    duration=_DURATIONS,
    reason=_TEXT,
    created_at=_TIMES,
    state=st.sampled_from(State),
    reviews=st.lists(_REVIEWS, max_size=3).map(tuple),
    auto_approved=st.booleans(),
    break_glass=st.booleans(),
    break_glass_review=st.none() | _REVIEWS,
    approved_at=st.none() | _TIMES,
    starts_at=st.none() | _TIMES,
    ends_at=st.none() | _TIMES,
    ended_at=st.none() | _TIMES,
    ended_by=_TEXT,
    end_reason=_TEXT,
    extensions=st.lists(_EXTENSIONS, max_size=2).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(_REQUESTS)
def test_documents_round_trip_any_request(request: AccessRequest) -> None:
    assert documents.loads(documents.dumps(request)) == request


def test_malformed_documents_are_refused_by_name() -> None:
    document = documents.to_document(elaborate_requests()[0])
    with pytest.raises(ValueError, match="no field 'reason'"):
        documents.from_document({k: v for k, v in document.items() if k != "reason"})
    with pytest.raises(ValueError, match="'break_glass' has the wrong type int"):
        documents.from_document({**document, "break_glass": 1})
    with pytest.raises(ValueError, match="'duration_seconds' has the wrong type bool"):
        documents.from_document({**document, "duration_seconds": True})
    with pytest.raises(ValueError, match="format 2"):
        documents.from_document({**document, "format": 2})
    with pytest.raises(ValueError, match="without a timezone"):
        documents.from_document({**document, "created_at": "2026-01-01T00:00:00"})
