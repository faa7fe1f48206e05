"""`kubejit token` (kubectl's exec credential plugin) and `kubejit kubeconfig` against a fake broker.

The fake broker is a small HTTP server on 127.0.0.1 that answers the broker's API shapes and records what it was
asked: enough to test the CLI's client logic (cache, ExecCredential, error lines, file modes). The real broker
and kubectl are in tests/e2e/test_token_plugin.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubejit.devcluster.pki import CertificateAuthority
from kubejit.entrypoints.cli import errors, token_plugin
from kubejit.entrypoints.cli.kubeconfig import build_kubeconfig

KUBEJIT = str(Path(sys.executable).parent / "kubejit")
GRANT = "req-0123456789abcdef"
ID_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.id-token-secret"
GRANT_TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJnaWQiOiJyZXEtMDEyMyJ9.grant-token-secret"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@dataclass
class FakeBroker:
    """Answers ``routes[(method, path)] = (status, body)``; records (method, path, Authorization) of each call."""

    routes: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    tls: ssl.SSLContext | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        broker = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                broker.calls.append((self.command, self.path, self.headers.get("Authorization", "")))
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                status, body = broker.routes.get((self.command, self.path), (404, _error("not-found", "no route")))
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in broker.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if self.tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def issue(self, token: str = GRANT_TOKEN, expires_in: int = 300, grant: str = GRANT) -> int:
        expires = int(time.time()) + expires_in
        answer = {"token": token, "expiresAt": datetime.fromtimestamp(expires, UTC).isoformat(), "grant": grant}
        self.routes[("POST", f"/api/v1/requests/{grant}/token")] = (200, answer)
        return expires

    def token_calls(self) -> int:
        return sum(1 for method, path, _ in self.calls if method == "POST" and path.endswith("/token"))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


@pytest.fixture
def broker() -> Iterator[FakeBroker]:
    fake = FakeBroker()
    yield fake
    fake.close()


@pytest.fixture
def env(tmp_path: Path, broker: FakeBroker) -> dict[str, str]:
    return {
        "KUBEJIT_SERVER": broker.url,
        "KUBEJIT_TOKEN": ID_TOKEN,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOME": str(tmp_path / "home"),
    }


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def credential(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.stdout)
        return document


def plugin(env: dict[str, str], *args: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = token_plugin.run(list(args), env, out, err)
    return Result(code, out.getvalue(), err.getvalue())


def cache_file(env: dict[str, str], grant: str = GRANT) -> Path:
    return Path(env["XDG_CACHE_HOME"]) / "kubejit" / "tokens" / f"{grant}.json"


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        assert "secret" not in text


# ---- ExecCredential and the cache -------------------------------------------------------------------------------


def test_a_fresh_token_is_printed_as_an_exec_credential_and_cached(env: dict[str, str], broker: FakeBroker) -> None:
    expires = broker.issue()
    result = plugin(env, "--grant", GRANT)
    assert (result.code, result.stderr) == (0, "")
    assert result.stdout.endswith("\n")
    assert result.stdout.count("\n") == 1
    document = result.credential()
    assert document == {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": GRANT_TOKEN, "expirationTimestamp": document["status"]["expirationTimestamp"]},
    }
    stamp = document["status"]["expirationTimestamp"]
    assert RFC3339_UTC.match(stamp)
    assert datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp() == expires
    assert broker.calls == [("POST", f"/api/v1/requests/{GRANT}/token", f"Bearer {ID_TOKEN}")]

    path = cache_file(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [f"{GRANT}.json"]  # no temporary file left behind
    entry = json.loads(path.read_text())
    assert entry == {
        "grant": GRANT,
        "owner": hashlib.sha256(ID_TOKEN.encode()).hexdigest(),
        "expires": expires,
        "token": GRANT_TOKEN,
    }
    assert ID_TOKEN not in path.read_text()


def test_a_token_valid_long_enough_is_served_from_the_cache(env: dict[str, str], broker: FakeBroker) -> None:
    broker.issue()
    first = plugin(env, "--grant", GRANT)
    broker.close()  # nobody answers any more
    second = plugin({**env, "KUBEJIT_SERVER": "http://127.0.0.1:1"}, "--grant", GRANT)
    assert (second.code, second.stderr) == (0, "")
    assert second.stdout == first.stdout
    assert broker.token_calls() == 1


def test_the_cache_is_used_only_with_30_seconds_or_more_left(env: dict[str, str]) -> None:
    owner = hashlib.sha256(ID_TOKEN.encode()).hexdigest()
    path = cache_file(env)
    token_plugin.write_cache(str(path), {"grant": GRANT, "owner": owner, "expires": 1_000_000, "token": GRANT_TOKEN})
    assert token_plugin.read_cache(str(path), owner, 1_000_000 - 30) == (GRANT_TOKEN, 1_000_000)
    assert token_plugin.read_cache(str(path), owner, 1_000_000 - 29.5) is None
    assert token_plugin.read_cache(str(path), owner, 1_000_001) is None
    assert token_plugin.read_cache(str(path), "someone else", 0) is None


def test_a_token_about_to_expire_is_replaced(env: dict[str, str], broker: FakeBroker) -> None:
    broker.issue(token="a.b.old-secret", expires_in=20)
    assert plugin(env, "--grant", GRANT).credential()["status"]["token"] == "a.b.old-secret"
    broker.issue(token="a.b.new-secret", expires_in=300)
    assert plugin(env, "--grant", GRANT).credential()["status"]["token"] == "a.b.new-secret"
    assert plugin(env, "--grant", GRANT).credential()["status"]["token"] == "a.b.new-secret"
    assert broker.token_calls() == 2


def test_the_cache_serves_only_the_identity_that_filled_it(env: dict[str, str], broker: FakeBroker) -> None:
    broker.issue()
    assert plugin(env, "--grant", GRANT).code == 0
    broker.routes[("POST", f"/api/v1/requests/{GRANT}/token")] = (
        404,
        _error("not-found", f"there is no grant {GRANT} of yours"),
    )
    other = plugin({**env, "KUBEJIT_TOKEN": "another.id.token"}, "--grant", GRANT)
    assert other.code == errors.EXIT_REFUSED
    assert other.stdout == ""
    assert other.stderr == f"kubejit token: there is no grant {GRANT} of yours\n"
    assert broker.calls[-1][2] == "Bearer another.id.token"
    assert json.loads(cache_file(env).read_text())["token"] == GRANT_TOKEN  # the owner's entry is left alone


@pytest.mark.parametrize("damage", ["corrupt", "group-readable", "symlink", "wrong-types", "directory"])
def test_a_damaged_or_exposed_cache_file_is_a_miss_and_is_replaced(
    env: dict[str, str], broker: FakeBroker, tmp_path: Path, damage: str
) -> None:
    broker.issue(token="a.b.first-secret")
    assert plugin(env, "--grant", GRANT).code == 0
    path = cache_file(env)
    if damage == "corrupt":
        path.write_text("{not json")
    elif damage == "group-readable":
        path.chmod(0o640)
    elif damage == "symlink":
        elsewhere = tmp_path / "elsewhere.json"
        elsewhere.write_bytes(path.read_bytes())
        elsewhere.chmod(0o600)
        path.unlink()
        path.symlink_to(elsewhere)
    elif damage == "wrong-types":
        entry = json.loads(path.read_text())
        path.write_text(json.dumps({**entry, "expires": str(entry["expires"])}))
    else:
        path.unlink()
        path.mkdir(mode=0o700)
        assert token_plugin.read_cache(str(path), "anyone", 0) is None
        path.rmdir()  # a directory cannot be replaced by the new file: the test checks reading only
    broker.issue(token="a.b.second-secret")
    result = plugin(env, "--grant", GRANT)
    assert (result.code, result.stderr) == (0, "")
    assert result.credential()["status"]["token"] == "a.b.second-secret"
    assert broker.token_calls() == 2
    assert not path.is_symlink()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_loose_cache_directory_is_tightened(env: dict[str, str], broker: FakeBroker) -> None:
    directory = cache_file(env).parent
    directory.mkdir(parents=True, mode=0o755)
    directory.chmod(0o755)
    broker.issue()
    assert plugin(env, "--grant", GRANT).code == 0
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_the_default_cache_is_under_home_and_a_relative_xdg_cache_home_is_ignored(tmp_path: Path) -> None:
    home = str(tmp_path)
    assert token_plugin.cache_dir({"HOME": home}) == f"{home}/.cache/kubejit/tokens"
    assert token_plugin.cache_dir({"HOME": home, "XDG_CACHE_HOME": "relative"}) == f"{home}/.cache/kubejit/tokens"
    assert token_plugin.cache_dir({"HOME": home, "XDG_CACHE_HOME": "/x/c"}) == "/x/c/kubejit/tokens"


def test_an_unwritable_cache_still_gives_the_credential_with_a_warning(
    env: dict[str, str], broker: FakeBroker, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    broker.issue()
    result = plugin({**env, "XDG_CACHE_HOME": str(blocker)}, "--grant", GRANT)
    assert result.code == 0
    assert result.credential()["status"]["token"] == GRANT_TOKEN
    assert result.stderr.startswith("kubejit token: warning: cannot cache the token in ")
    assert result.stderr.count("\n") == 1
    assert_no_secrets(result.stderr)


def test_the_grant_comes_from_the_option_or_kubejit_grant(env: dict[str, str], broker: FakeBroker) -> None:
    broker.issue()
    assert plugin({**env, "KUBEJIT_GRANT": GRANT}).code == 0
    assert plugin(env, f"--grant={GRANT}").code == 0
    assert plugin({**env, "KUBEJIT_GRANT": "req-other"}, "--grant", GRANT).code == 0


def test_help_is_printed_without_asking_anything(env: dict[str, str], broker: FakeBroker) -> None:
    result = plugin(env, "--help")
    assert result.code == 0
    assert result.stdout.startswith("Usage: kubejit token [--grant ID]")
    assert broker.calls == []


# ---- error lines and exit codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "environment", "expected"),
    [
        ((), {}, "say which grant: --grant ID or KUBEJIT_GRANT"),
        (("--grant",), {}, "--grant needs a value"),
        (("--grant", "../../etc/passwd"), {}, "'../../etc/passwd' is not a grant id"),
        (("--grant", GRANT, "--verbose"), {}, "unexpected argument '--verbose'"),
        (("--grant", GRANT), {"KUBEJIT_TOKEN": ""}, "say who you are: set KUBEJIT_TOKEN"),
        (("--grant", GRANT), {"KUBEJIT_SERVER": ""}, "say which broker to use: set KUBEJIT_SERVER"),
        (
            ("--grant", GRANT),
            {"KUBEJIT_SERVER": "ftp://broker"},
            "KUBEJIT_SERVER 'ftp://broker' must be an https:// URL",
        ),
        (
            ("--grant", GRANT),
            {"KUBEJIT_SERVER": "http://broker.example"},
            "KUBEJIT_SERVER 'http://broker.example': your ID token",
        ),
    ],
)
def test_bad_input_is_exit_2_with_one_line(
    env: dict[str, str], args: tuple[str, ...], environment: dict[str, str], expected: str
) -> None:
    result = plugin({**env, **environment}, *args)
    assert result.code == errors.EXIT_USAGE == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"kubejit token: {expected}")
    assert result.stderr.count("\n") == 1
    assert_no_secrets(result.stderr)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("pending", f"grant {GRANT} is pending: it needs approval first (see kubejit get {GRANT})"),
        ("approved", f"grant {GRANT} is approved but not active yet: try again in a few seconds"),
        ("expired", f"grant {GRANT} is expired: request access again with kubejit request"),
        ("revoked", f"grant {GRANT} is revoked: request access again with kubejit request"),
    ],
)
def test_a_grant_that_is_not_active_says_so_and_what_to_do(
    env: dict[str, str], broker: FakeBroker, state: str, expected: str
) -> None:
    message = f"{GRANT} is {state}: tokens are issued only for active grants"
    broker.routes[("POST", f"/api/v1/requests/{GRANT}/token")] = (409, _error("conflict", message))
    broker.routes[("GET", f"/api/v1/requests/{GRANT}")] = (200, {"id": GRANT, "state": state})
    result = plugin(env, "--grant", GRANT)
    assert (result.code, result.stdout) == (errors.EXIT_REFUSED, "")
    assert result.stderr == f"kubejit token: {expected}\n"
    assert not cache_file(env).exists()


def test_a_conflict_without_the_grant_state_keeps_the_brokers_message(env: dict[str, str], broker: FakeBroker) -> None:
    broker.routes[("POST", f"/api/v1/requests/{GRANT}/token")] = (409, _error("conflict", "not active\nat all"))
    result = plugin(env, "--grant", GRANT)
    assert (result.code, result.stderr) == (1, "kubejit token: not active at all\n")


@pytest.mark.parametrize(
    ("status", "body", "code", "expected"),
    [
        (401, _error("unauthenticated", "the ID token expired"), 1, "the broker did not accept your ID token"),
        (403, _error("refused", "no"), 1, "no"),
        (404, _error("not-found", "this broker has no gateway configured"), 1, "this broker has no gateway"),
        (400, _error("invalid", "bad id"), 2, "bad id"),
        (503, _error("unavailable", "database down"), 3, "database down"),
        (500, b"Traceback: Authorization: Bearer leaked-secret", 3, "the broker answered HTTP 500"),
        (200, b"<html>not json, secret</html>", 3, "did not answer with a grant token"),
        (200, {"token": "has spaces secret", "expiresAt": "2030-01-01T00:00:00Z"}, 3, "did not answer"),
        (200, {"token": GRANT_TOKEN, "expiresAt": "soon"}, 3, "the broker's expiresAt 'soon' is not a time"),
        (200, {"token": GRANT_TOKEN, "expiresAt": "2030-01-01T00:00:00Z", "grant": "req-x"}, 3, "another grant"),
    ],
)
def test_broker_errors_are_one_line_with_the_cli_exit_codes(
    env: dict[str, str], broker: FakeBroker, status: int, body: Any, code: int, expected: str
) -> None:
    broker.routes[("POST", f"/api/v1/requests/{GRANT}/token")] = (status, body)
    result = plugin(env, "--grant", GRANT)
    assert (result.code, result.stdout) == (code, "")
    assert result.stderr.startswith("kubejit token: ")
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1
    assert_no_secrets(result.stderr)
    assert ID_TOKEN not in result.stderr


def test_an_unreachable_broker_is_exit_3(env: dict[str, str]) -> None:
    result = plugin({**env, "KUBEJIT_SERVER": "http://127.0.0.1:1"}, "--grant", GRANT)
    assert (result.code, result.stdout) == (errors.EXIT_UNREACHABLE, "")
    assert result.stderr.startswith("kubejit token: cannot reach the kubejit broker at http://127.0.0.1:1: ")


def test_redirects_are_not_followed_so_the_id_token_stays_put(env: dict[str, str], broker: FakeBroker) -> None:
    elsewhere = FakeBroker()
    try:
        broker.extra_headers["Location"] = f"{elsewhere.url}/steal"
        broker.routes[("POST", f"/api/v1/requests/{GRANT}/token")] = (307, b"")
        result = plugin(env, "--grant", GRANT)
        assert result.code == errors.EXIT_UNREACHABLE
        assert "the broker answered HTTP 307" in result.stderr
        assert elsewhere.calls == []
    finally:
        elsewhere.close()


def test_https_brokers_are_verified_against_kubejit_ca(env: dict[str, str], tmp_path: Path) -> None:
    authority = CertificateAuthority()
    cert, key = authority.issue_server("broker").write(tmp_path, "broker")
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(authority.cert_pem)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    secure = FakeBroker(tls=tls)
    try:
        secure.issue()
        trusted = plugin({**env, "KUBEJIT_SERVER": secure.url, "KUBEJIT_CA": str(ca_file)}, "--grant", GRANT)
        assert (trusted.code, trusted.stderr) == (0, "")
        cache_file(env).unlink()
        untrusted = plugin({**env, "KUBEJIT_SERVER": secure.url}, "--grant", GRANT)
        assert untrusted.code == errors.EXIT_UNREACHABLE
        assert "certificate verify failed" in untrusted.stderr
        missing = plugin(
            {**env, "KUBEJIT_SERVER": secure.url, "KUBEJIT_CA": str(tmp_path / "no.crt")}, "--grant", GRANT
        )
        assert missing.code == errors.EXIT_USAGE
        assert "KUBEJIT_CA" in missing.stderr
    finally:
        secure.close()


def test_the_plugin_exit_codes_are_the_clis() -> None:
    assert (
        token_plugin.EXIT_OK,
        token_plugin.EXIT_REFUSED,
        token_plugin.EXIT_USAGE,
        token_plugin.EXIT_UNREACHABLE,
    ) == (
        errors.EXIT_OK,
        errors.EXIT_REFUSED,
        errors.EXIT_USAGE,
        errors.EXIT_UNREACHABLE,
    )


# ---- as kubectl runs it: the installed program, a subprocess ----------------------------------------------------


def run_kubejit(
    env: dict[str, str], *args: str, stdin: int | None = subprocess.DEVNULL
) -> subprocess.CompletedProcess[str]:
    full = {"PATH": os.environ.get("PATH", ""), **env}
    return subprocess.run(
        [KUBEJIT, *args], capture_output=stdin is not None, text=True, env=full, stdin=stdin, timeout=30
    )


def test_kubectl_style_run_with_exec_info_and_no_terminal(env: dict[str, str], broker: FakeBroker) -> None:
    broker.issue()
    exec_info = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "spec": {"interactive": False},
    }
    full = {"PATH": os.environ.get("PATH", ""), **env, "KUBERNETES_EXEC_INFO": json.dumps(exec_info)}
    # stdin stays open and empty: a plugin that tried to read it (a prompt) would hang until the timeout
    with subprocess.Popen(
        [KUBEJIT, "token", "--grant", GRANT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full,
    ) as process:
        stdout, stderr = _wait(process)
    assert (process.returncode, stderr) == (0, "")
    assert json.loads(stdout)["status"]["token"] == GRANT_TOKEN


def _wait(process: subprocess.Popen[str]) -> tuple[str, str]:
    assert process.stdout is not None
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("kubejit token waited for stdin")
        time.sleep(0.01)
    return process.stdout.read(), process.stderr.read()


def test_the_warm_path_imports_no_framework_nor_network_module(env: dict[str, str], broker: FakeBroker) -> None:
    broker.issue()
    assert plugin(env, "--grant", GRANT).code == 0
    probe = (
        "import sys, io, contextlib\n"
        "from kubejit.entrypoints.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main(['token', '--grant', '{GRANT}'])\n"
        "heavy = {'typer', 'click', 'rich', 'httpx', 'pydantic', 'yaml', 'urllib', 'ssl', 'http'}\n"
        "heavy |= {'typing', 'pathlib', 'datetime'}\n"
        "print(code, sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    full = {"PATH": os.environ.get("PATH", ""), **env}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=full, timeout=30)
    assert result.stdout.strip() == "0 []", result.stderr


def test_the_installed_program_dispatches_token_and_lists_it_in_help(env: dict[str, str], broker: FakeBroker) -> None:
    broker.issue()
    result = run_kubejit(env, "token", "--grant", GRANT)
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout)["kind"] == "ExecCredential"
    refused = run_kubejit({**env, "KUBEJIT_TOKEN": ""}, "token", "--grant", GRANT)
    assert (refused.returncode, refused.stdout) == (2, "")
    listed = run_kubejit(env, "--help")
    assert "token" in listed.stdout
    assert "kubeconfig" in listed.stdout


# ---- kubejit kubeconfig -----------------------------------------------------------------------------------------


def serve_gateway_info(broker: FakeBroker, *, requester: str = "alice", state: str = "active") -> None:
    broker.routes[("GET", "/api/v1/gateway/info")] = (
        200,
        {"url": "https://gateway.example:8443", "certificateAuthorityData": "Q0EtUEVN"},
    )
    broker.routes[("GET", f"/api/v1/requests/{GRANT}")] = (
        200,
        {"id": GRANT, "state": state, "requester": requester, "namespaces": ["payments", "checkout"]},
    )
    broker.routes[("GET", "/api/v1/whoami")] = (200, {"user": "alice", "groups": ["payments-devs"]})


def test_kubeconfig_is_written_0600_and_runs_kubejit_token(
    env: dict[str, str], broker: FakeBroker, tmp_path: Path
) -> None:
    serve_gateway_info(broker)
    target = tmp_path / "jit.kubeconfig"
    result = run_kubejit(env, "kubeconfig", "--grant", GRANT, "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    text = target.read_text()
    assert ID_TOKEN not in text
    assert yaml.safe_load(text) == build_kubeconfig(
        grant=GRANT,
        name=f"jit-{GRANT}",
        gateway_url="https://gateway.example:8443",
        ca_data="Q0EtUEVN",
        namespace="payments",
        command=KUBEJIT,
        server=broker.url,
        ca_file=None,
    )
    document = yaml.safe_load(text)
    assert document["current-context"] == f"jit-{GRANT}"
    assert document["contexts"][0]["context"] == {
        "cluster": f"jit-{GRANT}",
        "user": f"jit-{GRANT}",
        "namespace": "payments",
    }
    assert document["clusters"][0]["cluster"] == {
        "server": "https://gateway.example:8443",
        "certificate-authority-data": "Q0EtUEVN",
    }
    exec_ = document["users"][0]["user"]["exec"]
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1"
    assert exec_["command"] == KUBEJIT
    assert Path(exec_["command"]).is_absolute()
    assert exec_["args"] == ["token", "--grant", GRANT]
    assert exec_["env"] == [{"name": "KUBEJIT_SERVER", "value": broker.url}]
    assert exec_["interactiveMode"] == "Never"
    assert exec_["provideClusterInfo"] is False


def test_kubeconfig_to_stdout_with_a_context_name_and_the_ca_file(
    env: dict[str, str], broker: FakeBroker, tmp_path: Path
) -> None:
    serve_gateway_info(broker)
    ca_file = tmp_path / "broker-ca.pem"
    ca_file.write_bytes(CertificateAuthority().cert_pem)
    result = run_kubejit({**env, "KUBEJIT_CA": str(ca_file)}, "kubeconfig", "--grant", GRANT, "--context", "pay")
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    assert document["current-context"] == "pay"
    assert document["users"][0]["user"]["exec"]["env"] == [
        {"name": "KUBEJIT_SERVER", "value": broker.url},
        {"name": "KUBEJIT_CA", "value": str(ca_file)},
    ]


@pytest.mark.parametrize(
    ("requester", "state", "expected"),
    [
        ("bob", "active", f"{GRANT} was requested by bob: only its requester can use a grant"),
        ("alice", "expired", f"grant {GRANT} is expired: request access again with kubejit request"),
    ],
)
def test_kubeconfig_refuses_someone_elses_or_an_ended_grant(
    env: dict[str, str], broker: FakeBroker, tmp_path: Path, requester: str, state: str, expected: str
) -> None:
    serve_gateway_info(broker, requester=requester, state=state)
    target = tmp_path / "jit.kubeconfig"
    result = run_kubejit(env, "kubeconfig", "--grant", GRANT, "-o", str(target))
    assert result.returncode == 1
    assert expected in " ".join(result.stderr.split())
    assert not target.exists()


def test_kubeconfig_takes_o_as_a_file_not_a_format(env: dict[str, str], broker: FakeBroker) -> None:
    result = run_kubejit(env, "kubeconfig", "--grant", GRANT, "-o", "json")
    assert result.returncode == 2
    assert broker.calls == []
