"""The loopback redirect receiver of ``kubejit login`` (adapters.oidc_login._loopback): a connection that sends
nothing (a browser's idle preconnect, or any local process) must not stall the sign-in past its deadline, nor keep
the real redirect from being taken."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from kubejit.adapters.oidc_login._loopback import LoopbackReceiver
from kubejit.domain.errors import Unauthenticated


def _in_thread(receiver: LoopbackReceiver, timeout: float) -> dict[str, object]:
    outcome: dict[str, object] = {}

    def wait() -> None:
        try:
            outcome["answer"] = receiver.wait(timeout)
        except Unauthenticated as error:
            outcome["error"] = error

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    outcome["thread"] = thread
    return outcome


def test_an_idle_connection_does_not_outlast_the_deadline() -> None:
    with LoopbackReceiver("the-state") as receiver, socket.create_connection(("127.0.0.1", receiver.port)):
        outcome = _in_thread(receiver, 0.5)
        thread = outcome["thread"]
        assert isinstance(thread, threading.Thread)
        thread.join(10)
        assert not thread.is_alive(), "the receiver hung on a connection that sent nothing"
        assert isinstance(outcome.get("error"), Unauthenticated)


def test_the_redirect_is_taken_after_an_idle_connection() -> None:
    with LoopbackReceiver("the-state") as receiver, socket.create_connection(("127.0.0.1", receiver.port)):
        outcome = _in_thread(receiver, 30)
        time.sleep(0.2)  # the idle connection is accepted first
        started = time.monotonic()
        with httpx.Client(trust_env=False, timeout=20) as browser:
            answer = browser.get(receiver.redirect_uri, params={"code": "c0de", "state": "the-state"})
        thread = outcome["thread"]
        assert isinstance(thread, threading.Thread)
        thread.join(10)
        assert answer.status_code == 200
        assert outcome.get("answer") == {"code": "c0de", "state": "the-state"}
        assert time.monotonic() - started < 10


@pytest.mark.parametrize("state", ["another", ""])
def test_a_wrong_state_is_refused_and_the_sign_in_goes_on(state: str) -> None:
    with LoopbackReceiver("the-state") as receiver:
        outcome = _in_thread(receiver, 30)
        with httpx.Client(trust_env=False, timeout=20) as browser:
            wrong = browser.get(receiver.redirect_uri, params={"code": "forged", "state": state})
            right = browser.get(receiver.redirect_uri, params={"code": "c0de", "state": "the-state"})
        thread = outcome["thread"]
        assert isinstance(thread, threading.Thread)
        thread.join(10)
        assert (wrong.status_code, right.status_code) == (400, 200)
        assert outcome.get("answer") == {"code": "c0de", "state": "the-state"}
