"""The session store of ``kubejit login`` (kubejit.login_sessions): private files, choosing a session, renewal.

Renewal is tested with an injected refresh function (what the IdP would answer), including the lock that keeps
concurrent kubectl commands from renewing twice; the refresh grant over HTTP against a real IdP is in
tests/e2e/test_login.py, and its error wording against a small local endpoint here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kubejit import login_sessions
from kubejit.domain.errors import InvalidInput, Unauthenticated, Unavailable
from tests.unit.sessions import CLIENT_ID, ISSUER, id_token, session_document

SERVER = "https://broker.example"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path / "home")}


def sessions_dir(env: dict[str, str]) -> Path:
    return Path(env["XDG_CACHE_HOME"]) / "kubejit" / "sessions"


# ---- the files --------------------------------------------------------------------------------------------------


def test_a_session_is_one_0600_file_per_server_and_issuer_in_a_0700_directory(env: dict[str, str]) -> None:
    session = login_sessions.save_session(env, session_document(SERVER + "/"))
    key = hashlib.sha256(f"{SERVER}\n{ISSUER}".encode()).hexdigest()[:32]
    assert session.path == str(sessions_dir(env) / f"{key}.json")
    assert stat.S_IMODE(Path(session.path).stat().st_mode) == 0o600
    assert stat.S_IMODE(sessions_dir(env).stat().st_mode) == 0o700
    assert json.loads(Path(session.path).read_text())["server"] == SERVER  # stored without the trailing slash
    assert login_sessions.current_server(env) == SERVER
    other = login_sessions.save_session(env, session_document(SERVER, issuer="https://ci.example"))
    assert other.path != session.path
    assert sorted(p.name for p in sessions_dir(env).iterdir() if p.suffix == ".json") == sorted(
        [Path(session.path).name, Path(other.path).name]
    )


@pytest.mark.parametrize("damage", ["symlink", "group-readable", "world-writable", "directory"])
def test_a_session_file_that_is_not_ours_alone_is_refused(env: dict[str, str], tmp_path: Path, damage: str) -> None:
    session = login_sessions.save_session(env, session_document(SERVER))
    path = Path(session.path)
    if damage == "symlink":
        elsewhere = tmp_path / "planted.json"
        elsewhere.write_bytes(path.read_bytes())
        elsewhere.chmod(0o600)
        path.unlink()
        path.symlink_to(elsewhere)
    elif damage == "group-readable":
        path.chmod(0o640)
    elif damage == "world-writable":
        path.chmod(0o602)
    else:
        path.unlink()
        path.mkdir(mode=0o700)
    with pytest.raises(Unauthenticated, match="refusing the session file") as refused:
        login_sessions.current_id_token(SERVER, env)
    assert "run kubejit login" in str(refused.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root")
def test_a_fifo_in_place_of_a_session_file_is_refused_not_waited_on(env: dict[str, str]) -> None:
    session = login_sessions.save_session(env, session_document(SERVER))
    Path(session.path).unlink()
    os.mkfifo(session.path, 0o600)  # opening it for reading would wait for a writer: kubectl would hang
    outcome: list[BaseException] = []

    def use_it() -> None:
        try:
            login_sessions.current_id_token(SERVER, env)
        except Unauthenticated as refused:
            outcome.append(refused)

    reader = threading.Thread(target=use_it, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():
        with open(session.path, "wb"):  # noqa: PTH123  (lets the waiting reader go)
            pass
        reader.join(5)
        pytest.fail("reading the session waited on a FIFO instead of refusing it")
    assert len(outcome) == 1
    assert "is not a regular file" in str(outcome[0])


def test_another_users_session_file_is_refused(env: dict[str, str]) -> None:
    session = login_sessions.save_session(env, session_document(SERVER))
    os.chown(session.path, 4242, 4242)
    with pytest.raises(Unauthenticated, match="belongs to another user"):
        login_sessions.current_id_token(SERVER, env)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root")
def test_another_users_sessions_directory_is_refused(env: dict[str, str]) -> None:
    directory = sessions_dir(env)
    directory.mkdir(parents=True, mode=0o700)
    os.chown(directory, 4242, 4242)
    with pytest.raises(login_sessions.UnsafeFile, match="belongs to another user"):
        login_sessions.save_session(env, session_document(SERVER))


def test_a_symlinked_sessions_directory_is_refused_and_a_loose_one_tightened(
    env: dict[str, str], tmp_path: Path
) -> None:
    directory = sessions_dir(env)
    directory.parent.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    directory.symlink_to(elsewhere)
    with pytest.raises(login_sessions.UnsafeFile, match="symbolic link"):
        login_sessions.save_session(env, session_document(SERVER))
    assert list(elsewhere.iterdir()) == []
    directory.unlink()
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    login_sessions.save_session(env, session_document(SERVER))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_files_are_replaced_atomically_and_a_failed_write_leaves_the_old_one(env: dict[str, str]) -> None:
    path = str(sessions_dir(env) / "some.json")
    login_sessions.write_private_json(path, {"n": 1})
    with open(path, "rb") as reader:  # noqa: PTH123  (a reader holding the old file while it is replaced)
        login_sessions.write_private_json(path, {"n": 2})
        assert json.loads(reader.read()) == {"n": 1}  # the old file, whole: a rename, not a rewrite in place
    assert login_sessions.read_private_json(path) == {"n": 2}
    with pytest.raises(TypeError):
        login_sessions.write_private_json(path, {"n": object()})
    assert login_sessions.read_private_json(path) == {"n": 2}
    assert [p.name for p in sessions_dir(env).iterdir()] == ["some.json"]  # no temporary file left behind


def test_a_damaged_session_file_says_so(env: dict[str, str]) -> None:
    session = login_sessions.save_session(env, session_document(SERVER))
    Path(session.path).write_text(json.dumps({**session.document, "idTokenExpiresAt": "soon"}))
    with pytest.raises(Unauthenticated, match=r"damaged \(idTokenExpiresAt is not a whole number\)"):
        login_sessions.current_id_token(SERVER, env)


def test_an_unsafe_current_server_file_is_refused(env: dict[str, str]) -> None:
    login_sessions.save_session(env, session_document(SERVER))
    (sessions_dir(env) / "current-server").chmod(0o644)
    with pytest.raises(InvalidInput, match="current-server is readable or writable by others"):
        login_sessions.current_server(env)


# ---- which session ----------------------------------------------------------------------------------------------


def test_no_session_says_run_kubejit_login(env: dict[str, str]) -> None:
    with pytest.raises(Unauthenticated, match=f"not signed in to {SERVER}: run kubejit login --server {SERVER}"):
        login_sessions.current_id_token(SERVER, env)
    login_sessions.save_session(env, session_document("https://other.example"))
    with pytest.raises(Unauthenticated, match="not signed in"):
        login_sessions.current_id_token(SERVER, env)


def test_the_newest_login_wins_unless_kubejit_issuer_names_one(env: dict[str, str]) -> None:
    staff = session_document(SERVER, loggedInAt=1000, idToken=id_token("staff-alice"))
    ci = session_document(SERVER, issuer="https://ci.example", issuerName="ci", loggedInAt=2000, idToken=id_token("ci"))
    login_sessions.save_session(env, staff)
    login_sessions.save_session(env, ci)
    assert login_sessions.current_id_token(SERVER, env) == ci["idToken"]
    assert login_sessions.current_id_token(SERVER, {**env, "KUBEJIT_ISSUER": "staff"}) == staff["idToken"]
    assert login_sessions.current_id_token(SERVER, {**env, "KUBEJIT_ISSUER": ISSUER}) == staff["idToken"]
    with pytest.raises(Unauthenticated, match="not signed in"):
        login_sessions.current_id_token(SERVER, {**env, "KUBEJIT_ISSUER": "nobody"})


# ---- renewal ----------------------------------------------------------------------------------------------------


class FakeIdP:
    """The refresh function: answers a new ID token (and a rotated refresh token), counting its calls."""

    def __init__(self, *, delay: float = 0.0, answer: dict[str, Any] | None = None) -> None:
        self.calls: list[str] = []
        self.delay = delay
        self.answer = answer
        self._lock = threading.Lock()

    def __call__(self, session: login_sessions.Session) -> dict[str, Any]:
        with self._lock:
            self.calls.append(str(session.refreshToken))
            number = len(self.calls)
        time.sleep(self.delay)
        if self.answer is not None:
            return self.answer
        return {"id_token": id_token(jti=f"renewed-{number}"), "refresh_token": f"refresh-{number + 1}"}


def test_a_token_valid_long_enough_is_used_as_it_is(env: dict[str, str]) -> None:
    document = session_document(SERVER, ttl=3600)
    login_sessions.save_session(env, document)
    idp = FakeIdP()
    assert login_sessions.current_id_token(SERVER, env, refresh=idp) == document["idToken"]
    assert idp.calls == []


def test_a_token_about_to_expire_is_renewed_and_the_rotated_refresh_token_stored(env: dict[str, str]) -> None:
    login_sessions.save_session(env, session_document(SERVER, ttl=30))
    idp = FakeIdP()
    token = login_sessions.current_id_token(SERVER, env, refresh=idp)
    assert idp.calls == ["refresh-1"]
    assert login_sessions.id_token_claims(token)["jti"] == "renewed-1"
    stored = login_sessions.find_session(SERVER, env)
    assert stored is not None
    assert (stored.idToken, stored.refreshToken) == (token, "refresh-2")
    assert stored.idTokenExpiresAt == login_sessions.id_token_claims(token)["exp"]
    assert stat.S_IMODE(Path(stored.path).stat().st_mode) == 0o600
    assert login_sessions.current_id_token(SERVER, env, refresh=idp) == token  # fresh now: no second renewal
    assert len(idp.calls) == 1


def test_an_idp_that_does_not_rotate_keeps_the_old_refresh_token(env: dict[str, str]) -> None:
    login_sessions.save_session(env, session_document(SERVER, ttl=0))
    login_sessions.current_id_token(SERVER, env, refresh=FakeIdP(answer={"id_token": id_token()}))
    stored = login_sessions.find_session(SERVER, env)
    assert stored is not None
    assert stored.refreshToken == "refresh-1"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"access_token": "only"}, "renewed the session without an ID token"),
        ({"id_token": id_token(issuer="https://evil.example")}, "wrong issuer"),
        ({"id_token": id_token(aud="someone-else")}, "not for the client 'kubejit'"),
        ({"id_token": id_token(ttl=-10)}, "expired ID token"),
        ({"id_token": id_token("mallory")}, "renewed the session for another subject"),
    ],
)
def test_a_renewed_id_token_is_checked(env: dict[str, str], answer: dict[str, Any], expected: str) -> None:
    document = login_sessions.save_session(env, session_document(SERVER, ttl=0)).document
    with pytest.raises(Unauthenticated, match=expected):
        login_sessions.current_id_token(SERVER, env, refresh=FakeIdP(answer=answer))
    stored = login_sessions.find_session(SERVER, env)
    assert stored is not None
    assert stored.document == document  # nothing stored from a refused answer


def test_an_expired_session_without_refresh_token_says_run_kubejit_login(env: dict[str, str]) -> None:
    login_sessions.save_session(env, session_document(SERVER, ttl=0, refresh_token=None))
    with pytest.raises(
        Unauthenticated, match=f"expired and holds no refresh token: run kubejit login --server {SERVER}"
    ):
        login_sessions.current_id_token(SERVER, env, refresh=FakeIdP())


def test_concurrent_renewals_in_threads_refresh_once(env: dict[str, str]) -> None:
    login_sessions.save_session(env, session_document(SERVER, ttl=10))
    idp = FakeIdP(delay=0.3)
    tokens: list[str] = []
    threads = [
        threading.Thread(target=lambda: tokens.append(login_sessions.current_id_token(SERVER, env, refresh=idp)))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert idp.calls == ["refresh-1"]  # one renewal; the others waited on the lock and read its result
    assert len(tokens) == 6
    assert len(set(tokens)) == 1


_RENEW_IN_A_PROCESS = """
import sys, time
from kubejit import login_sessions
from tests.unit.sessions import id_token
def refresh(session):
    with open(sys.argv[1], "a") as calls:
        calls.write(session.refreshToken + "\\n")
    time.sleep(0.3)
    return {"id_token": id_token(jti="renewed"), "refresh_token": "rotated"}
env = {"XDG_CACHE_HOME": sys.argv[2], "HOME": sys.argv[2]}
print(login_sessions.current_id_token(sys.argv[3], env, refresh=refresh))
"""


def test_concurrent_renewals_in_processes_refresh_once(env: dict[str, str], tmp_path: Path) -> None:
    login_sessions.save_session(env, session_document(SERVER, ttl=10))
    calls = tmp_path / "calls"
    root = str(Path(__file__).parents[2])
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _RENEW_IN_A_PROCESS, str(calls), env["XDG_CACHE_HOME"], SERVER],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=root,
            env={**os.environ, "PYTHONPATH": root},
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], [err for _, err in outputs]
    assert calls.read_text() == "refresh-1\n"
    assert len({out for out, _ in outputs}) == 1


# ---- the refresh grant over HTTP (error wording) ----------------------------------------------------------------


@pytest.fixture
def token_endpoint() -> Iterator[dict[str, Any]]:
    """A local endpoint that answers what ``answer["status"]``/``answer["body"]`` say, recording the form."""
    answer: dict[str, Any] = {"status": 200, "body": {}, "forms": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            answer["forms"].append(self.rfile.read(int(self.headers["Content-Length"])).decode())
            data = json.dumps(answer["body"]).encode()
            self.send_response(answer["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    answer["url"] = f"http://127.0.0.1:{server.server_address[1]}/token"
    yield answer
    server.shutdown()
    server.server_close()


def test_the_refresh_grant_posts_the_refresh_token_and_stores_the_answer(
    env: dict[str, str], token_endpoint: dict[str, Any]
) -> None:
    login_sessions.save_session(env, session_document(SERVER, ttl=0, tokenEndpoint=token_endpoint["url"]))
    fresh = id_token(jti="over-http")
    token_endpoint["body"] = {"id_token": fresh, "refresh_token": "refresh-2", "token_type": "Bearer"}
    assert login_sessions.current_id_token(SERVER, env) == fresh
    assert token_endpoint["forms"] == [f"grant_type=refresh_token&refresh_token=refresh-1&client_id={CLIENT_ID}"]


def test_a_refused_refresh_token_ends_the_session_with_run_kubejit_login(
    env: dict[str, str], token_endpoint: dict[str, Any]
) -> None:
    login_sessions.save_session(env, session_document(SERVER, ttl=0, tokenEndpoint=token_endpoint["url"]))
    token_endpoint["status"] = 400
    token_endpoint["body"] = {"error": "invalid_grant", "error_description": "Token is not active"}
    with pytest.raises(Unauthenticated) as refused:
        login_sessions.current_id_token(SERVER, env)
    assert str(refused.value) == (
        "your session with staff ended (the IdP refused to renew it: invalid_grant: Token is not active): "
        f"run kubejit login --server {SERVER}"
    )


def test_an_unreachable_or_failing_idp_is_unavailable(env: dict[str, str], token_endpoint: dict[str, Any]) -> None:
    login_sessions.save_session(env, session_document(SERVER, ttl=0, tokenEndpoint=token_endpoint["url"]))
    token_endpoint["status"] = 503
    with pytest.raises(Unavailable, match="answered HTTP 503"):
        login_sessions.current_id_token(SERVER, env)
    login_sessions.save_session(env, session_document(SERVER, ttl=0, tokenEndpoint="http://127.0.0.1:9/token"))
    with pytest.raises(Unavailable, match=re.escape("cannot reach the identity provider at http://127.0.0.1:9/token")):
        login_sessions.current_id_token(SERVER, env)


def test_a_token_endpoint_in_clear_text_off_this_machine_is_refused(env: dict[str, str]) -> None:
    login_sessions.save_session(env, session_document(SERVER, ttl=0, tokenEndpoint="http://idp.example/token"))
    with pytest.raises(Unauthenticated, match="is not https://"):
        login_sessions.current_id_token(SERVER, env)
