"""How long kubectl waits for `kubejit token` on every command, next to the bare interpreter's start, in one run.

kubectl runs its exec credential plugin once per kubectl process (expirationTimestamp does not persist across
invocations), so the plugin's start-up is paid on every kubectl command. This starts the dev control plane and
a real broker (with a gateway section), has alice request and bob approve a grant, fills the cache with one
`kubejit token --grant ID`, then runs the installed program as kubectl does (a subprocess with
KUBERNETES_EXEC_INFO set, stdout captured, no terminal) N times, interleaved with the baselines:

    warm     kubejit token --grant ID, served from the cache (KUBEJIT_TOKEN set)   target: median <= 60 ms
    session  the same with no KUBEJIT_TOKEN: the `kubejit login` session is read   target: median <= 60 ms
    baseline python -c pass / python -S -c pass (the same interpreter)
    cold     the cache file removed first: one broker call (for information)
    full CLI kubejit --help (what every command would cost if `token` went through Typer; for information)

    .venv/bin/python bench/token_plugin.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from _report import percentile, progress

from kubejit import login_sessions
from kubejit.adapters.policy_file import load_policy
from kubejit.devcluster.broker import broker_config, start_broker
from kubejit.devcluster.broker_access import install_broker_access
from kubejit.devcluster.cluster import DevCluster

POLICY = """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: bench}
spec:
  defaults: {defaultDuration: 1h, maxDuration: 4h, pendingTimeout: 1h}
  profiles:
    - name: debug
      clusterRole: view
      namespaces: ["bench-*"]
      requesters: {groups: [payments-devs]}
      approval: {approvers: {groups: [payments-leads]}}
      reason: {required: false}
"""
KUBEJIT = str(Path(sys.executable).parent / "kubejit")
TARGET_MS = 60.0


def summary(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples) * 1000:6.1f} ms  p90 {percentile(samples, 90) * 1000:6.1f} ms  "
        f"min {min(samples) * 1000:6.1f} ms  (n={len(samples)})"
    )


def timed(command: list[str], env: dict[str, str], before: Callable[[], None] = lambda: None) -> float:
    """One run as kubectl runs a plugin: stdout and stderr captured, no stdin; the exit code must be 0."""
    before()
    started = time.perf_counter()
    result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}: {result.stderr.decode()[-500:]}")
    return elapsed


def active_grant(cluster: DevCluster, workdir: Path) -> tuple[str, str, str]:
    """A real broker (with a gateway section) and an active grant of alice's: (broker URL, grant id, ID token)."""
    policy_file = workdir / "policy.yaml"
    policy_file.write_text(POLICY)
    kubeconfig = install_broker_access(
        cluster, load_policy(POLICY), workdir / "broker.kubeconfig", namespace="kubejit-bench", role_name="bench"
    )
    gateway = {
        "url": "https://127.0.0.1:1",  # not contacted: the plugin talks only to the broker
        "signingKeyFile": str(workdir / "broker" / "gateway-signing.key"),
        "clientTokenSha256": secrets.token_hex(32),
    }
    config = broker_config(
        cluster,
        workdir / "broker",
        policy_file=policy_file,
        broker_kubeconfig=kubeconfig,
        namespace="kubejit-bench",
        gateway=gateway,
    )
    broker = start_broker(config, log_name="broker")
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", namespace, check=True)
    alice, bob = cluster.mint_token("alice", ttl_seconds=3600), cluster.mint_token("bob")
    with httpx.Client(base_url=broker.url, timeout=30) as api:
        body = {"profile": "debug", "namespaces": [namespace], "duration": "1h", "reason": "bench"}
        created = api.post("/api/v1/requests", json=body, headers={"Authorization": f"Bearer {alice}"})
        grant = str(created.raise_for_status().json()["id"])
        api.post(
            f"/api/v1/requests/{grant}/approve", json={}, headers={"Authorization": f"Bearer {bob}"}
        ).raise_for_status()
        deadline = time.monotonic() + 30
        as_alice = {"Authorization": f"Bearer {alice}"}
        while api.get(f"/api/v1/requests/{grant}", headers=as_alice).json()["state"] != "active":
            if time.monotonic() > deadline:
                state = api.get(f"/api/v1/requests/{grant}", headers=as_alice).json()
                raise SystemExit(f"{grant} did not become active: {state}")
            time.sleep(0.05)
    return broker.url, grant, alice


def signed_in(env: dict[str, str], cluster: DevCluster, server: str, id_token: str) -> None:
    """The session `kubejit login` would have stored for alice (written directly: the bench times reading it)."""
    login_sessions.save_session(
        env,
        {
            "server": server,
            "issuer": cluster.issuer.url,
            "issuerName": "dev",
            "clientId": "kubejit",
            "clientSecret": None,
            "tokenEndpoint": f"{cluster.issuer.url}/token",
            "revocationEndpoint": None,
            "caData": None,
            "idToken": id_token,
            "idTokenExpiresAt": int(time.time()) + 3600,
            "refreshToken": None,
            "user": "alice",
            "loggedInAt": int(time.time()),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="runs of each command (at least 30)")
    args = parser.parse_args()
    runs = max(args.runs, 30)
    with tempfile.TemporaryDirectory() as tmp, DevCluster(with_kwok=False) as cluster:
        workdir = Path(tmp)
        progress("starting the broker and activating a grant")
        server, grant, id_token = active_grant(cluster, workdir)
        exec_info = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "spec": {}}
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KUBEJIT_")},
            "KUBEJIT_SERVER": server,
            "KUBEJIT_TOKEN": id_token,
            "XDG_CACHE_HOME": str(workdir / "cache"),
            "KUBERNETES_EXEC_INFO": json.dumps(exec_info),
        }
        session_env = {
            **{k: v for k, v in env.items() if k != "KUBEJIT_TOKEN"},
            "XDG_CACHE_HOME": str(workdir / "session-cache"),
        }
        signed_in(session_env, cluster, server, id_token)
        cache_file = workdir / "cache" / "kubejit" / "tokens" / f"{grant}.json"
        token = [KUBEJIT, "token", "--grant", grant]
        commands: dict[str, tuple[list[str], Callable[[], None]]] = {
            "warm": (token, lambda: None),
            "session": (token, lambda: None),
            "python -c pass": ([sys.executable, "-c", "pass"], lambda: None),
            "python -S -c pass": ([sys.executable, "-S", "-c", "pass"], lambda: None),
            "cold": (token, lambda: cache_file.unlink(missing_ok=True)),
            "kubejit --help": ([KUBEJIT, "--help"], lambda: None),
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        envs = {name: session_env if name == "session" else env for name in commands}
        for name, (command, before) in commands.items():  # one untimed run each: caches filled, files paged in
            timed(command, envs[name], before)
        progress(f"{runs} runs of each command, interleaved")
        for _ in range(runs):
            for name, (command, before) in commands.items():
                samples[name].append(timed(command, envs[name], before))  # a cold run leaves the cache filled again
        warm = statistics.median(samples["warm"]) * 1000
        session = statistics.median(samples["session"]) * 1000
        print(f"kubejit token --grant ID as kubectl runs it ({sys.executable}, Python {sys.version.split()[0]}):")
        print(f"   warm cache              {summary(samples['warm'])}")
        print(f"   warm, login session     {summary(samples['session'])}")
        print(f"   baseline python -c pass {summary(samples['python -c pass'])}")
        print(f"   baseline python -S      {summary(samples['python -S -c pass'])}")
        print(f"   cold (broker call)      {summary(samples['cold'])}")
        print(f"   full CLI (--help)       {summary(samples['kubejit --help'])}")
        for label, median in (("warm", warm), ("warm, login session", session)):
            verdict = "met" if median <= TARGET_MS else "NOT met"
            print(f"   target: {label} median <= {TARGET_MS:.0f} ms: {verdict} ({median:.1f} ms)")


if __name__ == "__main__":
    main()
