"""Where the name rule of ``kubejit.domain.identity_names`` is applied: the broker's OIDC claims check, the
gateway's authentication of grant tokens and ID tokens, and the policy loader (every subjects list and the
identity prefixes), each refusing with what is wrong and where."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kubejit.adapters.grant_tokens import GrantTokenSigner, load_or_create_key
from kubejit.adapters.idp._claims import identity_from
from kubejit.adapters.policy_file import load_policy
from kubejit.domain.errors import Unauthenticated
from kubejit.domain.policy import Identity as Person
from kubejit.domain.policy import PolicyError
from tests.unit.test_gateway_authentication import NOW as GATEWAY_NOW
from tests.unit.test_gateway_authentication import FakeIdTokens, authentication
from tests.unit.test_gateway_authentication import claims as grant_claims
from tests.unit.test_oidc_claims import ISSUER, NOW, claims, refusal

# ---- the broker: ID token claims ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "phrase"),
    [
        (" alice", "starts or ends with whitespace"),
        ("alice\t", "starts or ends with whitespace"),
        ("ali\u200bce", "U+200B ZERO WIDTH SPACE"),
        ("\u202ealice", "U+202E"),
        ("system:admin", "system: namespace"),
        ("System:Node:worker-1", "system: namespace"),
    ],
)
def test_an_id_token_with_a_bad_user_name_is_refused_naming_the_claim(user: str, phrase: str) -> None:
    message = refusal(claims(sub=user))
    assert message.startswith(f"the token's user name (its 'sub' claim) {user!r} ")
    assert phrase in message


@pytest.mark.parametrize(
    ("group", "phrase"),
    [
        ("system:masters", "system:masters (cluster-admin)"),
        ("SYSTEM:masters", "system: namespace"),
        ("payments-devs ", "starts or ends with whitespace"),
        ("payments\ufeff-devs", "U+FEFF"),
    ],
)
def test_one_bad_group_refuses_the_whole_id_token(group: str, phrase: str) -> None:
    message = refusal(claims(groups=["payments-devs", group]))
    assert f"'groups' claim names the group {group!r}" in message
    assert phrase in message
    assert "refuses the whole token" in message
    assert "system:masters" in refusal(claims(groups="system:masters"))  # a single string is one group


def test_an_ordinary_id_token_still_passes() -> None:
    identity = identity_from(claims(sub="Alice Smith", groups=["Payments Devs", "oidc:system:x"]), ISSUER, NOW)
    assert identity == Person("Alice Smith", frozenset({"Payments Devs", "oidc:system:x"}))


def test_a_long_bad_name_is_quoted_short() -> None:
    message = refusal(claims(sub=" " + "a" * 5000))
    assert len(message) < 400


# ---- the gateway: both token kinds ----------------------------------------------------------------------------


@pytest.fixture
def broker_key(tmp_path: Path) -> GrantTokenSigner:
    return GrantTokenSigner(load_or_create_key(tmp_path / "broker.key"))


@pytest.mark.parametrize(
    ("user", "groups", "phrase"),
    [
        (" alice", ["devs"], "names the user ' alice', which starts or ends with whitespace"),
        (
            "alice",
            ["devs", "system:masters"],
            "names the group 'system:masters', which is in the system: namespace that",
        ),
        ("alice\u200b", ["devs"], "U+200B"),
        ("alice", ["de\x00vs"], "control character"),
    ],
)
def test_a_grant_token_with_a_bad_name_is_refused(
    broker_key: GrantTokenSigner, user: str, groups: list[str], phrase: str
) -> None:
    """Signed by the broker or not, such a name never becomes an Impersonate-* header."""
    token = broker_key.sign({**grant_claims(user), "groups": groups})
    with pytest.raises(Unauthenticated, match="grant token of g1") as refused:
        authentication(broker_key).authenticate(token, GATEWAY_NOW)
    assert phrase in str(refused.value)


@pytest.mark.parametrize(
    "person",
    [Person(" carol", frozenset()), Person("carol", frozenset({"system:masters"})), Person("system:admin")],
    ids=["space", "system-group", "system-user"],
)
def test_an_id_token_with_a_bad_name_is_refused_by_the_gateway_too(
    broker_key: GrantTokenSigner, person: Person
) -> None:
    issuer = FakeIdTokens({"id-token": person})
    with pytest.raises(Unauthenticated, match=r"the ID token names the (user|group)"):
        authentication(broker_key, issuer).authenticate("id-token", GATEWAY_NOW)


# ---- the policy file ------------------------------------------------------------------------------------------

POLICY = """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {{name: test}}
spec:
  identity: {{usernamePrefix: "{prefix}"}}
  admins: {{groups: [platform-admins]}}
  profiles:
    - name: payments-debug
      clusterRole: view
      namespaces: [payments]
      requesters: {{users: [bob], groups: ["{requester}"]}}
      approval:
        approvers: {{users: ["{approver}"]}}
        autoApprove: {{groups: [sre, "{auto}"]}}
"""


def load(prefix: str = "", requester: str = "devs", approver: str = "lead", auto: str = "oncall") -> PolicyError | None:
    text = POLICY.format(prefix=prefix, requester=requester, approver=approver, auto=auto)
    try:
        load_policy(textwrap.dedent(text), "policy.yaml")
    except PolicyError as error:
        return error
    return None


def test_the_policy_with_ordinary_names_loads() -> None:
    assert load() is None


@pytest.mark.parametrize(
    ("field", "value", "where", "phrase"),
    [
        ("requester", " devs", "policy.yaml:11:43: spec.profiles[0].requesters.groups[0]", "whitespace"),
        ("requester", "system:masters", "policy.yaml:11:43: spec.profiles[0].requesters.groups[0]", "system:"),
        ("approver", "lead\\u200b", "policy.yaml:13:29: spec.profiles[0].approval.approvers.users[0]", "U+200B"),
        ("auto", "on\\tcall", "policy.yaml:14:37: spec.profiles[0].approval.autoApprove.groups[1]", "U+0009"),
        ("prefix", "sys", "policy.yaml:5:14: spec.identity.usernamePrefix", "reserved system:"),
        ("prefix", " oidc:", "policy.yaml:5:14: spec.identity.usernamePrefix", "starts with whitespace"),
    ],
)
def test_bad_names_in_the_policy_are_refused_at_their_line(field: str, value: str, where: str, phrase: str) -> None:
    error = load(**{field: value})
    assert error is not None
    (issue,) = error.issues
    assert str(issue).startswith(where), str(issue)
    assert phrase in issue.message
