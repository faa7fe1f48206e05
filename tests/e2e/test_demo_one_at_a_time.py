"""One demo at a time: a second `kubejit demo` (what `make demo` runs) or `kubejit devcluster run` in the same
directory refuses while the first runs and changes nothing of it; the first's files holding tokens or keys are
gone once it stops; a killed demo's lock file blocks nobody."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from kubejit.devcluster.dir_lock import LOCK_NAME
from kubejit.devcluster.users import DEV_USERS
from tests.conftest import eventually
from tests.e2e.conftest import KUBEJIT

pytestmark = pytest.mark.cluster

_CREDENTIALS = (
    "*.env",
    "demo.sh",
    "kubeconfig",
    "*.kubeconfig",
    "*.key",
    "*.token",
    "*/*.kubeconfig",
    "*/*.key",
    "*/*.token",
)


def credentials_in(directory: Path) -> set[str]:
    return {str(path.relative_to(directory)) for pattern in _CREDENTIALS for path in directory.glob(pattern)}


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_a_second_demo_refuses_and_the_first_removes_its_tokens_at_stop(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBEJIT_") or k == "KUBEJIT_CACHE_DIR"}
    with subprocess.Popen(
        [KUBEJIT, "demo", "--dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    ) as first:
        assert first.stdout is not None
        try:
            assert first.stdout.readline().startswith("ready"), "the first demo starts"
            written = credentials_in(tmp_path)
            assert {"demo.sh", "kubeconfig", *(f"{u.name}.env" for u in DEV_USERS)} <= written
            assert {f"{u.name}.kubeconfig" for u in DEV_USERS} | {
                "admin.kubeconfig",
                "gateway/gateway-client.token",
            } <= (written)
            before = snapshot(tmp_path)
            for second in (["demo"], ["devcluster", "run"]):
                refused = subprocess.run(
                    [KUBEJIT, *second, "--dir", str(tmp_path), *(["--", "true"] if "run" in second else [])],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    env=env,
                )
                assert refused.returncode == 1, refused.stderr
                assert f"another kubejit demo or devcluster (pid {first.pid}) is running in {tmp_path}" in (
                    refused.stderr
                )
                assert "--dir" in refused.stderr
            assert snapshot(tmp_path) == before, "the refused ones changed nothing of the running demo's"
            assert first.poll() is None, "the first demo still runs"
        finally:
            first.send_signal(signal.SIGINT)
            first.wait(60)
    assert first.returncode == 0
    assert credentials_in(tmp_path) == set(), "no token or key (nor demo.sh) of the stopped demo is left on disk"
    assert (tmp_path / "kubejit.yaml").exists(), "the rest stays (the next start replaces it)"


def test_a_killed_holders_lock_file_does_not_block_the_next_run(tmp_path: Path) -> None:
    child_pid = tmp_path / "child.pid"
    holder = subprocess.Popen(  # what a `kill -9`'d demo leaves: its lock file, unlocked
        [KUBEJIT, "devcluster", "run", "--no-kwok", "--dir", str(tmp_path), "--", "sh", "-c",
         f"echo $$ > {child_pid}; exec sleep 600"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert eventually(lambda: child_pid.exists() and child_pid.read_text().strip() != "", timeout=120)
    finally:
        holder.kill()
        holder.wait()
        if child_pid.exists():
            os.kill(int(child_pid.read_text()), signal.SIGKILL)
    assert (tmp_path / LOCK_NAME).exists()
    again = subprocess.run(
        [KUBEJIT, "devcluster", "run", "--no-kwok", "--dir", str(tmp_path), "--", "true"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert again.returncode == 0, again.stderr
