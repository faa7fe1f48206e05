"""The gateway's registry of open streams: what the cut-off at a grant's end or revoke relies on."""

from __future__ import annotations

from kubejit.entrypoints.gateway import Sessions


def test_closing_a_grant_closes_its_streams_only() -> None:
    sessions = Sessions()
    closed: list[tuple[str, str]] = []
    sessions.add("g1", 1e12, lambda why: closed.append(("g1", why)))
    sessions.add("g2", 1e12, lambda why: closed.append(("g2", why)))
    assert sessions.close_grant("g1", "revoked") == 1
    assert closed == [("g1", "revoked")]
    assert [stream.grant_id for stream in sessions.streams.values()] == ["g2"]


def test_a_stream_registered_after_its_grant_ended_is_closed_at_once() -> None:
    """The request was checked while the grant was active; the revoke arrived while it was reaching
    kube-apiserver, before the stream was registered."""
    sessions = Sessions()
    sessions.close_grant("g1", "revoked by bob")
    closed: list[str] = []
    sessions.add("g1", 1e12, closed.append)
    assert closed == ["revoked by bob"]
    assert sessions.streams == {}


def test_streams_past_their_deadline_are_closed() -> None:
    sessions = Sessions()
    closed: list[str] = []
    sessions.add("g1", 100.0, closed.append)
    sessions.add("g2", 200.0, closed.append)
    assert sessions.close_due(150.0) == 1
    assert closed == ["the grant's time is up"]


def test_the_memory_of_ended_grants_is_bounded() -> None:
    sessions = Sessions(max_ended=2)
    for grant in ("g1", "g2", "g3"):
        sessions.close_grant(grant, "expired")
    assert list(sessions.ended) == ["g2", "g3"]


def test_a_grants_current_end_decides_not_the_end_it_had_when_the_stream_opened() -> None:
    sessions = Sessions()
    closed: list[str] = []
    sessions.add("extended", 100.0, lambda why: closed.append(f"extended: {why}"))
    sessions.add("shortened", 300.0, lambda why: closed.append(f"shortened: {why}"))
    sessions.add("unknown", 100.0, lambda why: closed.append(f"unknown: {why}"))
    ends = {"extended": 400.0, "shortened": 120.0}
    assert sessions.close_due(150.0, ends.get) == 2
    assert sorted(closed) == ["shortened: the grant's time is up", "unknown: the grant's time is up"]
    assert [stream.grant_id for stream in sessions.streams.values()] == ["extended"]


def test_closing_all_streams_when_the_broker_falls_silent() -> None:
    sessions = Sessions()
    closed: list[str] = []
    sessions.add("g1", 1e12, closed.append)
    sessions.add("g2", 1e12, closed.append)
    assert sessions.close_all("broker silent") == 2
    assert closed == ["broker silent", "broker silent"]
    assert sessions.streams == {}
    assert sessions.ended == {}  # the grants themselves may still be active: new requests decide
