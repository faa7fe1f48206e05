"""The CLI's broker client with the session `kubejit login` stored: the current server and the session's token."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubejit import login_sessions
from kubejit.domain.errors import InvalidInput
from kubejit.entrypoints.cli.client import BrokerClient
from tests.unit.sessions import session_document

SERVER = "https://broker.example"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path / "home")}


def test_without_server_and_token_the_last_logins_broker_and_session_are_used(env: dict[str, str]) -> None:
    session = login_sessions.save_session(env, session_document(SERVER))
    client = BrokerClient.from_options(None, None, environ=env)
    assert (client.server, client.token) == (SERVER, session.idToken)
    assert BrokerClient.from_options(None, "given", environ=env).token == "given"  # --token / KUBEJIT_TOKEN win
    assert BrokerClient.anonymous(None, environ=env).token == ""


def test_without_a_session_or_a_server_the_message_says_kubejit_login(env: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match=r"say which broker to use: .* kubejit login --server URL"):
        BrokerClient.from_options(None, None, environ=env)
    with pytest.raises(InvalidInput, match=f"say who you are: .* kubejit login --server {SERVER}"):
        BrokerClient.from_options(SERVER, None, environ=env)
