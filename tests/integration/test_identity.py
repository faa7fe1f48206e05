"""The identity kubejit sees in an ID token is the identity kube-apiserver sees (DESIGN.md section 6).

Real kube-apiserver validates ID tokens of the dev OIDC issuer through its AuthenticationConfiguration;
`kubectl auth whoami` shows the user name and groups the policy will refer to. Tokens that are expired,
meant for another audience or signed by someone else are refused.
"""

from __future__ import annotations

import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.users import DEV_USERS, DevUser, dev_user


def whoami(devcluster: DevCluster, token: str) -> tuple[int, dict[str, object] | str]:
    result = devcluster.kubectl("auth", "whoami", "-o", "json", "--token", token, user="alice")
    if result.returncode != 0:
        return result.returncode, result.stderr
    return 0, json.loads(result.stdout)["status"]["userInfo"]


@pytest.mark.parametrize("user", DEV_USERS, ids=lambda u: u.name)
def test_each_dev_user_is_seen_with_their_groups(devcluster: DevCluster, user: DevUser) -> None:
    result = devcluster.kubectl("auth", "whoami", "-o", "json", user=user.name, check=True)
    info = json.loads(result.stdout)["status"]["userInfo"]
    assert info["username"] == user.name
    assert set(info["groups"]) == {*user.groups, "system:authenticated"}


def test_a_freshly_minted_token_is_accepted(devcluster: DevCluster) -> None:
    code, info = whoami(devcluster, devcluster.mint_token("carol", ttl_seconds=60))
    assert code == 0, info
    assert isinstance(info, dict)
    assert info["username"] == "carol"


def test_an_expired_token_is_refused(devcluster: DevCluster) -> None:
    token = devcluster.mint_token("alice", ttl_seconds=60, now=time.time() - 3600)
    code, message = whoami(devcluster, token)
    assert code != 0
    assert "Unauthorized" in str(message) or "must be logged in" in str(message)


def test_a_token_for_another_audience_is_refused(devcluster: DevCluster) -> None:
    code, message = whoami(devcluster, devcluster.mint_token("alice", audience="someone-else"))
    assert code != 0, message


def test_a_token_signed_by_another_key_is_refused(devcluster: DevCluster) -> None:
    forger = RSAKey.generate_key(2048)
    now = int(time.time())
    claims = {
        "iss": devcluster.issuer.url,
        "aud": devcluster.issuer.audience,
        "sub": "erin",
        "groups": list(dev_user("erin").groups),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    jwks_kid = devcluster.issuer.jwks()["keys"][0]["kid"]
    token = jwt.encode({"alg": "RS256", "kid": jwks_kid}, claims, forger)
    code, message = whoami(devcluster, token)
    assert code != 0, message
