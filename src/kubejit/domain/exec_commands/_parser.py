"""The shell command-list reader: where one simple command ends and the next begins.

Why this exists: ``sh -c 'cd / && rm -rf x'`` runs two programs. :class:`ShellParser` reads POSIX/bash text
(``;`` ``&&`` ``||`` ``|`` ``&`` newlines, ``( )``, ``{ ; }``, ``if``/``while``/``case``/``for``, functions,
``[[ ]]``, redirections and here-documents) on top of the word lexer (:mod:`._lexer`) and reports each simple
command to the analysis (:mod:`._analyzer`), which is its only caller. It never executes anything. Where it
cannot tell what the shell would do it errs toward reporting more commands, never fewer; syntax errors are
read as far as they go.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kubejit.domain.exec_commands._lexer import WordLexer
from kubejit.domain.exec_commands._words import RESERVED_WORDS, Context, Word

if TYPE_CHECKING:
    from kubejit.domain.exec_commands._analyzer import Analyzer

_FD_NAME = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
_OPERATORS = (
    ";;&", "&>>", "<<<", "<<-",
    ";;", ";&", "&&", "||", "|&", "&>", "<<", ">>", "<&", ">&", "<>", ">|",
    ";", "&", "|", "(", ")", "<", ">",
)  # fmt: skip
"""Control and redirection operators, longest first."""
_REDIRECTS = frozenset({"<", ">", ">>", "<<", "<<-", "<<<", "<&", ">&", "<>", ">|", "&>", "&>>"})
_CASE_ENDS = (";;", ";&", ";;&")
_NOT_IN_TEST = (";", "&", *_CASE_ENDS)  # operators that [[ ]] does not allow


class _Segment:
    """Parser state between two control operators."""

    __slots__ = (
        "case_pattern", "in_case", "in_test", "paren", "redirect", "skip", "skip_words", "test_start", "words",
    )  # fmt: skip

    def __init__(self) -> None:
        self.words: list[Word] = []
        self.redirect: str | None = None  # a redirection operator waiting for its target word
        self.skip = False  # for/select/case header: no command here
        self.skip_words = 0  # function NAME
        self.in_test = False  # inside [[ ... ]]
        self.test_start = -1  # where the text after [[ starts
        self.paren = 0  # open subshells
        self.in_case = 0  # open case statements
        self.case_pattern = False  # the next words up to ')' are a case pattern


class ShellParser(WordLexer):
    """A small POSIX/bash shell reader: finds simple commands (and substitutions) in one piece of text."""

    def __init__(self, analysis: Analyzer, text: str) -> None:
        super().__init__(analysis, text)
        self.heredocs: list[tuple[str, bool, bool]] = []  # (delimiter, strip tabs, body is expanded)

    def run(self, pos: int, ctx: Context, until_paren: bool) -> int:
        """Read a command list from ``pos``; with ``until_paren`` stop after its unmatched ``)``."""
        text, size = self.text, self.size
        segment = _Segment()
        while True:
            pos = self._skip_blanks(pos)
            if pos >= size:
                self._end_test(segment, size, ctx)
                self._flush(segment, ctx)
                return size
            char = text[pos]
            if char == "#":
                newline = text.find("\n", pos)
                pos = size if newline < 0 else newline
            elif char == "\n":
                pos = self._newline(segment, pos + 1, ctx)
            elif (substituted := self._substitution_at(segment, pos, ctx)) is not None:
                pos = substituted
            elif char in ";&|()<>":
                op = next(operator for operator in _OPERATORS if text.startswith(operator, pos))
                if segment.in_test and op in _NOT_IN_TEST:
                    self._end_test(segment, pos, ctx)  # not valid inside [[ ]]: read on as bash's error would not
                pos += len(op)
                if self._operator(segment, op, ctx, until_paren):
                    return pos
            else:
                pos = self._word_at(segment, pos, ctx)

    def _skip_blanks(self, pos: int) -> int:
        """Past blanks and escaped newlines."""
        text, size = self.text, self.size
        while pos < size:
            char = text[pos]
            if char == " " or char == "\t":
                pos += 1
            elif char == "\\" and text.startswith("\\\n", pos):
                pos += 2
            else:
                break
        return pos

    def _newline(self, segment: _Segment, pos: int, ctx: Context) -> int:
        """After a newline: it ends the command (not inside ``[[ ]]``); here-document bodies follow it."""
        if segment.in_test:
            return pos
        self._flush(segment, ctx)
        if self.heredocs:
            return self._heredoc_bodies(pos, ctx)
        return pos

    def _substitution_at(self, segment: _Segment, pos: int, ctx: Context) -> int | None:
        """A process substitution or an arithmetic command at ``pos``: where it ends; None when neither."""
        text = self.text
        char = text[pos]
        if (char == "<" or char == ">") and text.startswith("(", pos + 1):  # process substitution
            end = self.run(pos + 2, ctx.deeper(), until_paren=True)
            self._word_token(segment, Word(text[pos:end], dynamic=True, unknown=True))
            return end
        if char == "(" and text.startswith("((", pos) and not segment.words and segment.redirect is None:
            arith = self.arithmetic_end(pos + 2)
            if arith is not None:  # bash/ksh/zsh arithmetic command; dash reads nested subshells
                self.scan_substitutions(pos + 2, arith - 2, ctx)
                self.analysis.speculate(text[pos + 1 : arith - 1], ctx)
                return arith
        return None

    def _word_at(self, segment: _Segment, pos: int, ctx: Context) -> int:
        """Read the word at ``pos`` into the segment; returns where it ends."""
        text = self.text
        start = pos
        word, pos = self.read_word(pos, ctx)
        if (
            pos < self.size
            and text[pos] in "<>"
            and not word.quoted
            and (word.text.isdigit() or _FD_NAME.fullmatch(word.text))
            and not text.startswith("(", pos + 1)
        ):
            return pos  # an IO number such as the 2 of 2>/dev/null: the operator follows
        self._word_token(segment, word)
        if segment.in_test and segment.test_start < 0:
            segment.test_start = pos
        elif not segment.in_test and segment.test_start >= 0:
            self._end_test(segment, start, ctx)
        return pos

    def _end_test(self, segment: _Segment, end: int, ctx: Context) -> None:
        """[[ is no keyword in dash or busybox ash: there its && || and newlines separate commands."""
        if segment.test_start >= 0:
            self.analysis.speculate(self.text[segment.test_start : end], ctx)
            segment.test_start = -1
        segment.in_test = False

    def _operator(self, segment: _Segment, op: str, ctx: Context, until_paren: bool) -> bool:
        """Handle a control or redirection operator; True when it closes the list being read."""
        if segment.in_test:
            segment.words.append(Word(op))
            return False
        if op in _REDIRECTS:
            segment.redirect = op
            return False
        if op == "(":
            self._open_paren(segment)
            return False
        if op == ")":
            return self._close_paren(segment, ctx, until_paren)
        self._flush(segment, ctx)
        if op in _CASE_ENDS:
            segment.case_pattern = segment.in_case > 0
        return False

    def _open_paren(self, segment: _Segment) -> None:
        if segment.case_pattern and not segment.words:
            return  # the optional ( of a case pattern
        if segment.words:
            segment.words.clear()  # NAME ( ) { ...; }: a function definition (or coproc NAME (...))
            segment.skip = False
        segment.paren += 1

    def _close_paren(self, segment: _Segment, ctx: Context, until_paren: bool) -> bool:
        """A ``)``: ends a case pattern or a subshell; True when it closes the list being read."""
        if segment.in_case and segment.case_pattern:
            segment.words.clear()
            segment.skip = False
            segment.case_pattern = False
            return False
        self._flush(segment, ctx)
        if segment.paren == 0:
            return until_paren
        segment.paren -= 1
        return False

    def _word_token(self, segment: _Segment, word: Word) -> None:
        """A word: a redirection target, part of a header that runs nothing, a reserved word, or a command word."""
        if segment.redirect is not None:
            if segment.redirect in ("<<", "<<-"):
                self.heredocs.append((word.text, segment.redirect == "<<-", not word.quoted))
            segment.redirect = None
            return
        if segment.skip_words:
            segment.skip_words -= 1
            return
        if segment.skip:
            return
        if segment.in_test:
            segment.words.append(word)
            if word.text == "]]" and not word.quoted:
                segment.in_test = False
            return
        if not segment.words and not word.quoted and self._leading_keyword(segment, word.text):
            return
        segment.words.append(word)

    @staticmethod
    def _leading_keyword(segment: _Segment, text: str) -> bool:
        """A keyword in command position; True when it is no command word itself (``[[`` is one)."""
        if text in RESERVED_WORDS:
            if text == "esac":
                segment.in_case = max(0, segment.in_case - 1)
                segment.case_pattern = False
            return True
        if text in ("for", "select"):
            segment.skip = True
            return True
        if text == "case":
            segment.skip = True
            segment.in_case += 1
            segment.case_pattern = True
            return True
        if text == "function":
            segment.skip_words = 1
            return True
        if text == "[[":
            segment.in_test = True
        return False

    def _flush(self, segment: _Segment, ctx: Context) -> None:
        """The segment's words are one simple command: report it and start the next."""
        words = segment.words
        if words and not segment.skip:
            self.analysis.command(tuple(words), ctx)
        segment.words = []
        segment.skip = False
        segment.skip_words = 0
        segment.redirect = None
        segment.in_test = False

    def _heredoc_bodies(self, pos: int, ctx: Context) -> int:
        """The bodies of the here-documents opened on the line that just ended; unquoted ones may substitute."""
        text, size = self.text, self.size
        pending, self.heredocs = self.heredocs, []
        for delimiter, strip_tabs, expanded in pending:
            while pos < size:
                end = text.find("\n", pos)
                end = size if end < 0 else end
                line = text[pos:end]
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    pos = end + 1
                    break
                if expanded:
                    self.scan_substitutions(pos, end, ctx, heredoc=True)
                pos = end + 1
        return min(pos, size)
