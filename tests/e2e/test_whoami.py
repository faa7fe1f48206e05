"""``kubejit whoami`` shows who the broker sees behind a token: the same user and groups the cluster sees."""

from __future__ import annotations

import json
import os
import subprocess

from kubejit.devcluster.cluster import DevCluster
from tests.conftest import Kubectl
from tests.e2e.conftest import KUBEJIT, Jit


def test_whoami_shows_the_user_and_groups_the_cluster_sees(jit: Jit, devcluster: DevCluster, kubectl: Kubectl) -> None:
    assert jit.json("carol", "whoami") == {"user": "carol", "groups": ["payments-leads", "sre-oncall"]}
    text = jit("carol", "whoami").stdout
    assert "user    carol" in text
    assert "groups  payments-leads, sre-oncall" in text
    cluster_view = json.loads(kubectl("auth", "whoami", "-o", "json", user="carol").stdout)["status"]["userInfo"]
    assert cluster_view["username"] == "carol"
    assert {"payments-leads", "sre-oncall"} <= set(cluster_view["groups"])


def test_whoami_without_a_token_says_how_to_sign_in(jit: Jit) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KUBEJIT_TOKEN"} | {"KUBEJIT_SERVER": jit.server}
    result = subprocess.run([KUBEJIT, "whoami"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    assert "KUBEJIT_TOKEN" in result.stderr
