"""The one rule for user and group names from outside Kubernetes: no surrounding whitespace (HTTP headers lose it),
no invisible characters, nothing in Kubernetes' own ``system:`` names; and identity prefixes that cannot make one."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from kubejit.domain.identity_names import group_name_problem, identity_prefix_problem, quoted, user_name_problem

CHECKS = [user_name_problem, group_name_problem]

ACCEPTED = [
    "alice",
    "alice@example.com",
    "Payments Devs",
    "oidc:system:masters",
    "caf\u00e9",
    "\u5f20\u4e09",
    "a-b_c.d",
]

REFUSED = {
    " alice": "whitespace",
    "alice ": "whitespace",
    "\talice": "whitespace",
    "alice\n": "whitespace",
    "\u3000alice": "whitespace",  # ideographic space
    "al\x00ice": "control character (U+0000)",
    "al\x7fice": "control character (U+007F)",
    "al\tice": "control character (U+0009)",
    "al\u0085ice": "control character (U+0085)",
    "alice\u200b": "format character (U+200B ZERO WIDTH SPACE)",
    "\ufeffalice": "format character (U+FEFF",
    "ali\u202ece": "format character (U+202E RIGHT-TO-LEFT OVERRIDE)",
    "ali\u2066ce": "format character (U+2066",
    "ali\u200fce": "format character (U+200F",
    "ali\u00adce": "format character (U+00AD SOFT HYPHEN)",
    "ali\u00a0ce": "space other than the plain space (U+00A0 NO-BREAK SPACE)",
    "ali\u2028ce": "line separator",
    "ali\ud800ce": "lone surrogate",
    "ali\ue000ce": "private-use",
    "": "is empty",
    "system:masters": "system: namespace",
    "System:Masters": "system: namespace",
    "SYSTEM:serviceaccount:kube-system:default": "system: namespace",
    "\u017fystem:masters": "system: namespace",  # long s folds to s
    "system\uff1amasters": "system: namespace",  # full-width colon
    "system:": "system: namespace",
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_ordinary_names_pass(name: str) -> None:
    assert user_name_problem(name) is None
    assert group_name_problem(name) is None


@pytest.mark.parametrize(("name", "phrase"), list(REFUSED.items()), ids=[quoted(n) for n in REFUSED])
def test_names_kube_apiserver_could_read_differently_or_that_kubernetes_keeps_are_refused(
    name: str, phrase: str
) -> None:
    for check in CHECKS:
        problem = check(name)
        assert problem is not None, check.__name__
        assert phrase in problem, (check.__name__, problem)


def test_the_reserved_names_are_explained_for_users_and_groups() -> None:
    assert "system:masters (cluster-admin)" in (group_name_problem("system:masters") or "")
    assert "system:node:" in (user_name_problem("system:node:worker") or "")


def test_quoted_shows_what_is_invisible_and_cuts_long_names() -> None:
    assert quoted(" alice") == "' alice'"
    assert quoted("alice\u200b") == "'alice\\u200b'"
    assert quoted("x" * 500).endswith("...")
    assert len(quoted("x" * 500)) == 80


@pytest.mark.parametrize("prefix", ["", "oidc:", "corp-", "s:", "systemd:", "sy-"])
def test_usual_prefixes_pass(prefix: str) -> None:
    assert identity_prefix_problem(prefix) is None


@pytest.mark.parametrize("prefix", ["system:", "System:oidc:", "sys", "S", "system", " oidc:", "oidc\u200b:", "o\x00"])
def test_prefixes_that_reach_into_system_or_hide_characters_are_refused(prefix: str) -> None:
    assert identity_prefix_problem(prefix) is not None


# ---- properties ---------------------------------------------------------------------------------------------

INVISIBLE = st.characters(categories=["Cc", "Cf", "Cs", "Co", "Zl", "Zp"])
SURROUNDING = st.characters(categories=["Zs", "Zl", "Zp", "Cc"]).filter(str.isspace)
NAMES = st.text(min_size=1, max_size=40)


@settings(max_examples=500, deadline=None)
@given(name=NAMES)
@example(name=" alice")
@example(name="alice\u200b")
def test_an_accepted_name_is_what_a_header_carries_and_a_reader_sees(name: str) -> None:
    for check in CHECKS:
        if check(name) is None:
            assert name == name.strip(" \t") == name.strip()  # Go trims spaces and tabs; Python every space
            assert all(char == " " or char.isprintable() for char in name)
            assert not unicodedata.normalize("NFKC", name).casefold().startswith("system:")


@settings(max_examples=300, deadline=None)
@given(name=NAMES, space=SURROUNDING, at_start=st.booleans())
def test_surrounding_whitespace_is_always_refused(name: str, space: str, at_start: bool) -> None:
    padded = space + name if at_start else name + space
    assert user_name_problem(padded) is not None
    assert group_name_problem(padded) is not None


@settings(max_examples=300, deadline=None)
@given(name=NAMES, char=INVISIBLE, data=st.data())
def test_an_invisible_character_anywhere_is_refused(name: str, char: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(name)))
    spoiled = name[:at] + char + name[at:]
    assert user_name_problem(spoiled) is not None
    assert group_name_problem(spoiled) is not None


@settings(max_examples=300, deadline=None)
@given(cases=st.lists(st.booleans(), min_size=7, max_size=7), rest=st.text(max_size=20))
def test_system_in_any_case_is_refused(cases: list[bool], rest: str) -> None:
    spelled = "".join(c.upper() if up else c for c, up in zip("system:", cases, strict=True))
    assert group_name_problem(spelled + rest) is not None
    assert user_name_problem(spelled + rest) is not None


# Mostly letters of "system:" (any case, the long s, the full-width colon), so that prefix + name comes close.
NEAR_SYSTEM = st.text(
    alphabet=st.one_of(st.sampled_from("sSyYtTeEmM:\u017f\uff1a"), st.characters(categories=["L", "M", "N", "P"])),
    max_size=10,
)


@settings(max_examples=500, deadline=None)
@given(prefix=NEAR_SYSTEM, name=NEAR_SYSTEM)
@example(prefix="sys", name="tem:masters")
@example(prefix="", name="system:masters")
def test_an_accepted_prefix_and_name_never_make_a_system_name(prefix: str, name: str) -> None:
    """What the cluster sees is prefix + name: both checks together keep it out of system:."""
    assume(identity_prefix_problem(prefix) is None and group_name_problem(name) is None)
    assert not unicodedata.normalize("NFKC", prefix + name).casefold().startswith("system:")
