"""The private seams of the exec-command analysis: the word lexer, ANSI-C decoding, option tables, handlers.

test_exec_commands.py checks the public verdicts end to end; these pin the pieces they are built from, so
that a change to one module shows where it went wrong.
"""

from __future__ import annotations

import pytest

from kubejit.domain.exec_commands._analyzer import Analyzer, analyze
from kubejit.domain.exec_commands._ansi_c import decode_ansi_c
from kubejit.domain.exec_commands._handlers import handler_for
from kubejit.domain.exec_commands._interpreters import interpreter
from kubejit.domain.exec_commands._option_specs import (
    FLAG,
    OPTIONAL_VALUE,
    VALUE,
    OptionSpec,
    long_options,
    parse_options,
)
from kubejit.domain.exec_commands._parser import ShellParser
from kubejit.domain.exec_commands._words import Context, Word, argv_word, basename


def _word(text: str) -> tuple[Word, int, Analyzer]:
    analysis = Analyzer()
    word, end = ShellParser(analysis, text).read_word(0, Context())
    return word, end, analysis


# ---------------------------------------------------------------------------------------------------- lexer


@pytest.mark.parametrize("source", ['"r"m', "r\\m", "'rm'", "$'\\x72m'", "$'\\162m'", "r''m", '""rm'])
def test_quotes_and_escapes_are_removed(source: str) -> None:
    word, end, _ = _word(source)
    assert word.text == "rm"
    assert word.quoted
    assert not word.expands
    assert end == len(source)


@pytest.mark.parametrize(
    ("source", "flag"),
    [("$X", "dynamic"), ("${X}", "dynamic"), ("$(id)", "dynamic"), ("`id`", "dynamic"), ("r?", "glob"),
     ("[ab]x", "glob"), ("{a,b}", "brace"), ("{1..3}", "brace")],
)  # fmt: skip
def test_expansions_are_flagged(source: str, flag: str) -> None:
    word, _, _ = _word(source)
    assert getattr(word, flag)
    assert word.expands


@pytest.mark.parametrize(("source", "unknown"), [("*", True), ("-r?", True), ("./*", False), ("r?", False)])
def test_only_a_glob_that_may_become_an_option_is_an_unknown_argument(source: str, unknown: bool) -> None:
    assert _word(source)[0].unknown is unknown


def test_a_word_ends_at_an_operator() -> None:
    word, end, _ = _word("rm;ls")
    assert (word.text, end) == ("rm", 2)


def test_a_substitution_in_a_word_is_reported_as_a_command() -> None:
    _, _, analysis = _word('"$(rm -rf /)"')
    assert [tuple(w.text for w in command.words) for command in analysis.commands] == [("rm", "-rf", "/")]


def test_an_assignment_is_recognized() -> None:
    assert _word("X=1")[0].assign
    assert not _word("'X'=1")[0].assign
    assert argv_word("PATH+=/x").assign


def test_ansi_c_decoding() -> None:
    assert decode_ansi_c("\\x72\\u006d\\n\\q'rest", 0) == ("rm\n\\q", 15)
    assert decode_ansi_c("\\cA", 0) == ("\x01", 3)  # unterminated: to the end
    assert decode_ansi_c("\\x", 0) == ("\\x", 2)


# ---------------------------------------------------------------------------------------------------- parser


def test_command_lists_and_keywords() -> None:
    analysis = analyze(["sh", "-c", "if true; then rm -rf /; fi && for x in a; do echo $x; done | cat <<E\nE\n"])
    programs = [command.words[0].text for command in analysis.commands]
    assert programs == ["sh", "true", "rm", "echo", "cat"]


def test_an_io_number_is_not_a_word() -> None:
    analysis = analyze(["sh", "-c", "rm 2>/dev/null -rf /"])
    assert [w.text for w in analysis.commands[1].words] == ["rm", "-rf", "/"]


# ------------------------------------------------------------------------------------------- option specs


def test_long_options_mini_language() -> None:
    assert long_options("user:u= login:i shell:s?") == {
        "user": ("u", VALUE),
        "login": ("i", FLAG),
        "shell": ("s", OPTIONAL_VALUE),
    }


def test_parse_options_reads_clusters_values_and_abbreviations() -> None:
    spec = OptionSpec(short_val="u", short_flag="in", long=long_options("user:u= login:i"))
    words = tuple(Word(text) for text in ["sudo", "-inu", "root", "--log", "--user=x", "--", "rm"])
    index, seen, certain = parse_options(words, 1, spec)
    assert certain
    assert words[index].text == "rm"
    assert [(key, value.text if value else None) for key, value in seen] == [
        ("i", None),
        ("n", None),
        ("u", "root"),
        ("i", None),
        ("u", "x"),
    ]


def test_an_unknown_option_makes_the_parse_uncertain() -> None:
    words = tuple(Word(text) for text in ["nice", "-z", "rm"])
    index, _, certain = parse_options(words, 1, OptionSpec(short_val="n"))
    assert (index, certain) == (1, False)


# ----------------------------------------------------------------------------------------------- handlers


def test_handlers_by_program_name() -> None:
    assert handler_for("python3.11") is interpreter
    assert handler_for("sudo") is not None
    assert handler_for("rm") is None
    assert basename("/usr/bin/=rm") == "rm"
