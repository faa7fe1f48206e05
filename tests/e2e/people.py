"""A person's machine for the sign-in tests: the real ``kubejit`` with only a home and cache of its own.

``tests/e2e/test_login.py`` (the dev issuer) and ``tests/e2e/test_login_keycloak.py`` (Keycloak's page in
Chromium) differ only in how the person answers the IdP; what the machine is, and how its commands run, is here.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import KUBEJIT


@dataclass
class Machine:
    """No KUBEJIT_* variable in the environment: whatever the CLI knows comes from its own session cache."""

    server: str
    home: Path

    @property
    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("KUBEJIT_")}
        return {**base, "XDG_CACHE_HOME": str(self.home / "cache"), "HOME": str(self.home)}

    @property
    def sessions(self) -> Path:
        return self.home / "cache" / "kubejit" / "sessions"

    def session(self) -> dict[str, Any]:
        """The one stored session (the test fails if there is not exactly one)."""
        files = list(self.sessions.glob("*.json"))
        assert len(files) == 1, files
        document: dict[str, Any] = json.loads(files[0].read_text())
        return document

    def run(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [KUBEJIT, *args], capture_output=True, text=True, env=env or self.env, timeout=120, stdin=subprocess.DEVNULL
        )
        if check and result.returncode != 0:
            pytest.fail(f"kubejit {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [KUBEJIT, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self.env,
        )


def kubectl_whoami_with_id_token(machine: Machine, kubectl: Path, server: str, ca_pem: bytes) -> dict[str, Any]:
    """Who kube-apiserver at ``server`` sees when kubectl presents the session's ID token: a kubeconfig made with
    `kubectl config` whose user runs `kubejit token --id-token`, then `kubectl auth whoami`."""
    kubeconfig, ca = machine.home / "direct.kubeconfig", machine.home / "ca.crt"
    ca.write_bytes(ca_pem)
    base = [str(kubectl), "--kubeconfig", str(kubeconfig)]
    for command in (
        ["config", "set-cluster", "dev", f"--server={server}", f"--certificate-authority={ca}"],
        ["config", "set-credentials", "me", "--exec-api-version=client.authentication.k8s.io/v1",
         f"--exec-command={KUBEJIT}", "--exec-arg=token", "--exec-arg=--id-token", "--exec-interactive-mode=Never"],
        ["config", "set-context", "dev", "--cluster=dev", "--user=me"],
        ["config", "use-context", "dev"],
    ):  # fmt: skip
        subprocess.run([*base, *command], check=True, capture_output=True, env=machine.env)
    seen = subprocess.run([*base, "auth", "whoami", "-o", "json"], capture_output=True, text=True, env=machine.env)
    assert seen.returncode == 0, seen.stderr
    user: dict[str, Any] = json.loads(seen.stdout)["status"]["userInfo"]
    return user


def line_starting(process: subprocess.Popen[str], prefix: str) -> str:
    """The first line ``process`` writes on stderr that starts with ``prefix`` (the URL kubejit login prints)."""
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.strip().startswith(prefix):
            return line.strip()
    pytest.fail(f"kubejit login printed no {prefix}... line:\n{''.join(seen)}")


def finished(process: subprocess.Popen[str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
