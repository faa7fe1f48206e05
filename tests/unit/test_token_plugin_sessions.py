"""`kubejit token` with the session `kubejit login` stored (no KUBEJIT_TOKEN), against the fake broker.

The session's renewal at a real IdP is in tests/e2e/test_login.py; here the session is written directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kubejit import login_sessions
from kubejit.entrypoints.cli import token_plugin
from tests.unit.sessions import id_token, session_document
from tests.unit.test_token_plugin import GRANT, ID_TOKEN, FakeBroker, cache_file, plugin


@pytest.fixture
def broker() -> Iterator[FakeBroker]:
    fake = FakeBroker()
    yield fake
    fake.close()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No KUBEJIT_TOKEN, no KUBEJIT_SERVER: what a person has after kubejit login."""
    return {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path / "home")}


def sign_in(env: dict[str, str], server: str, **fields: object) -> login_sessions.Session:
    return login_sessions.save_session(env, session_document(server, **fields))


def test_without_kubejit_token_the_session_of_the_current_server_asks(env: dict[str, str], broker: FakeBroker) -> None:
    session = sign_in(env, broker.url)
    broker.issue()
    result = plugin(env, "--grant", GRANT)
    assert (result.code, result.stderr) == (0, "")
    assert broker.calls == [("POST", f"/api/v1/requests/{GRANT}/token", f"Bearer {session.idToken}")]
    assert json.loads(cache_file(env).read_text())["owner"] == session.owner
    assert plugin(env, "--grant", GRANT).code == 0
    assert broker.token_calls() == 1  # the second one came from the cache


def test_kubejit_token_in_the_environment_wins_over_the_session(env: dict[str, str], broker: FakeBroker) -> None:
    sign_in(env, broker.url)
    broker.issue()
    assert plugin({**env, "KUBEJIT_TOKEN": ID_TOKEN}, "--grant", GRANT).code == 0
    assert broker.calls[-1][2] == f"Bearer {ID_TOKEN}"
    assert json.loads(cache_file(env).read_text())["owner"] == hashlib.sha256(ID_TOKEN.encode()).hexdigest()


def test_a_cached_grant_token_outlives_the_id_tokens_renewal_but_not_a_new_login(
    env: dict[str, str], broker: FakeBroker
) -> None:
    session = sign_in(env, broker.url, loggedInAt=1000)
    broker.issue(token="a.b.first-secret")
    assert plugin(env, "--grant", GRANT).code == 0
    renewed = {**session.document, "idToken": id_token(jti="renewed"), "refreshToken": "refresh-2"}
    login_sessions.write_private_json(session.path, renewed)
    assert plugin(env, "--grant", GRANT).credential()["status"]["token"] == "a.b.first-secret"
    assert broker.token_calls() == 1
    sign_in(env, broker.url, loggedInAt=2000, user="bob", idToken=id_token("bob"))  # someone signs in anew
    broker.issue(token="a.b.second-secret")
    assert plugin(env, "--grant", GRANT).credential()["status"]["token"] == "a.b.second-secret"
    assert broker.calls[-1][2] == f"Bearer {login_sessions.find_session(broker.url, env).idToken}"  # type: ignore[union-attr]


def test_no_session_and_no_token_says_sign_in(env: dict[str, str], broker: FakeBroker) -> None:
    result = plugin({**env, "KUBEJIT_SERVER": broker.url}, "--grant", GRANT)
    assert result.code == 2
    assert result.stderr == (
        "kubejit token: say who you are: set KUBEJIT_TOKEN (an ID token from your IdP) in the environment kubectl "
        f"runs in, or sign in once with kubejit login --server {broker.url}\n"
    )
    assert broker.calls == []


def test_an_expired_session_that_cannot_be_renewed_is_one_line_with_the_cli_codes(
    env: dict[str, str], broker: FakeBroker
) -> None:
    sign_in(env, broker.url, ttl=0, refresh_token=None)
    result = plugin(env, "--grant", GRANT)
    assert result.code == 1
    assert result.stderr == (
        f"kubejit token: your session with staff has expired and holds no refresh token: run kubejit login "
        f"--server {broker.url}\n"
    )
    sign_in(env, broker.url, ttl=0, tokenEndpoint="http://127.0.0.1:9/token")
    unreachable = plugin(env, "--grant", GRANT)
    assert unreachable.code == 3
    assert unreachable.stderr.startswith("kubejit token: cannot reach the identity provider at http://127.0.0.1:9/")
    assert broker.calls == []


def test_a_cached_grant_token_is_served_even_when_the_id_token_is_due_for_renewal(
    env: dict[str, str], broker: FakeBroker
) -> None:
    session = sign_in(env, broker.url)
    broker.issue()
    assert plugin(env, "--grant", GRANT).code == 0
    expired = {**session.document, "idTokenExpiresAt": 0, "tokenEndpoint": "http://127.0.0.1:9/token"}
    login_sessions.write_private_json(session.path, expired)
    assert plugin(env, "--grant", GRANT).code == 0  # the warm path neither renews nor asks anyone
    assert broker.token_calls() == 1


def test_id_token_prints_the_sessions_id_token_as_the_exec_credential(env: dict[str, str], broker: FakeBroker) -> None:
    session = sign_in(env, broker.url)
    result = plugin(env, "--id-token")
    assert (result.code, result.stderr) == (0, "")
    status = result.credential()["status"]
    assert status["token"] == session.idToken
    expected = token_plugin.exec_credential(session.idToken, session.idTokenExpiresAt)
    assert json.loads(expected)["status"]["expirationTimestamp"] == status["expirationTimestamp"]
    assert broker.calls == []
    assert plugin(env, "--id-token", "--grant", GRANT).code == 2


def test_the_sessions_in_the_help(env: dict[str, str]) -> None:
    text = plugin(env, "--help").stdout
    assert "--id-token" in text
    assert "kubejit login" in text


def test_logout_forgets_only_the_sessions_cached_grant_tokens(env: dict[str, str], broker: FakeBroker) -> None:
    session = sign_in(env, broker.url)
    broker.issue()
    assert plugin(env, "--grant", GRANT).code == 0
    broker.issue(grant="req-other")
    assert plugin({**env, "KUBEJIT_TOKEN": ID_TOKEN}, "--grant", "req-other").code == 0
    assert token_plugin.forget_cached(env, session.owner) == 1
    assert not cache_file(env).exists()
    assert cache_file(env, "req-other").exists()


def test_the_warm_path_with_a_session_imports_no_framework_nor_network_module(
    env: dict[str, str], broker: FakeBroker
) -> None:
    sign_in(env, broker.url)
    broker.issue()
    assert plugin(env, "--grant", GRANT).code == 0
    probe = (
        "import sys, io, contextlib\n"
        "from kubejit.entrypoints.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main(['token', '--grant', '{GRANT}'])\n"
        "heavy = {'typer', 'click', 'rich', 'httpx', 'pydantic', 'yaml', 'urllib', 'ssl', 'http', 'fcntl'}\n"
        "heavy |= {'typing', 'pathlib', 'datetime', 'authlib', 'base64'}\n"
        "loaded = {m.split('.')[0] for m in sys.modules} | set(sys.modules)\n"
        "print(code, sorted(loaded & (heavy | {'kubejit.domain.errors'})))\n"
    )
    full = {"PATH": os.environ.get("PATH", ""), **env}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=full, timeout=30)
    assert result.stdout.strip() == "0 []", result.stderr


class _RenewingTokenEndpoint(BaseHTTPRequestHandler):
    """A token endpoint that renews any refresh token (the renewal itself is tested against real IdPs)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"id_token": id_token(), "refresh_token": "refresh-2", "token_type": "Bearer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_a_renewal_into_a_session_cache_that_is_not_ours_alone_is_one_line_not_a_traceback(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The sessions directory replaced by a symbolic link: the renewed session is never written there, and the
    plugin says so in one line with the usage exit code."""
    endpoint = ThreadingHTTPServer(("127.0.0.1", 0), _RenewingTokenEndpoint)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{endpoint.server_address[1]}"
        sign_in(env, "http://127.0.0.1:9", ttl=0, tokenEndpoint=f"{url}/token")
        sessions = Path(login_sessions.sessions_dir(env))
        sessions.rename(tmp_path / "moved")
        sessions.symlink_to(tmp_path / "moved")
        result = plugin(env, "--id-token")
    finally:
        endpoint.shutdown()
        endpoint.server_close()
    assert result.code == 2
    assert result.stderr.startswith("kubejit token: refusing the session cache: ")
    assert "is not a directory of its own" in result.stderr
    assert result.stderr.count("\n") == 1
