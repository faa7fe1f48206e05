"""The shell word lexer: quoting, escapes and expansions, read without executing anything.

Why this exists: a denied program can be spelled in many ways (``"r"m``, ``r\\m``, ``'rm'``, ``$'\\x72m'``), and
substitutions such as ``$(...)``, backticks, ``${...}`` and ``<(...)`` run commands of their own. The
:class:`WordLexer` turns shell source into :class:`~._words.Word` values with quotes removed and expansions
flagged, and hands every substitution it meets back to the analysis (:mod:`._analyzer`). The command-list
reader :class:`~._parser.ShellParser` builds on it; nothing else uses it directly.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kubejit.domain.exec_commands._ansi_c import decode_ansi_c
from kubejit.domain.exec_commands._words import MAX_LEXICAL_NESTING, AnalysisAborted, Context, Word

if TYPE_CHECKING:
    from kubejit.domain.exec_commands._analyzer import Analyzer

WORD_END = frozenset(" \t\n;&|()<>")
"""Characters that end an unquoted word."""
_PLAIN_RUN = re.compile(r"[^ \t\n;&|()<>\\'\"$`*?\[\]{},.]+")
"""Characters that mean nothing special inside a word: the lexer takes a run of them at once."""
_ASSIGN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPECIAL_PARAMS = frozenset("@*#?-$!0123456789")
# What a ``$`` turned out to start:
_DOLLAR_DYNAMIC = 1  # an expansion or substitution, known only at run time
_DOLLAR_QUOTED = 2  # quoted text ($'...' or $"...")
_DOLLAR_LITERAL = 3  # a plain dollar sign


class WordLexer:
    """Reads words of one piece of shell text; the command-list reading (:meth:`run`) is the parser's."""

    def __init__(self, analysis: Analyzer, text: str) -> None:
        self.analysis = analysis
        self.text = text
        self.size = len(text)
        self.lexical = 0  # open ${...} expansions

    def run(self, pos: int, ctx: Context, until_paren: bool) -> int:
        """Read a command list from ``pos`` (``$(...)`` and friends hold one); implemented by the parser."""
        raise NotImplementedError

    def read_word(self, pos: int, ctx: Context) -> tuple[Word, int]:
        """One word from ``pos``: its text with quotes removed, what it holds, and where it ends."""
        text, size = self.text, self.size
        buf: list[str] = []
        length = 0
        dynamic = glob = brace = quoted = first_glob = False
        plain, plain_len = True, 0  # the word so far is unquoted literal text
        last = ""  # the last character, if it was unquoted literal
        brace_stage = 0  # 1: an unquoted '{' was seen; 2: then ',' or '..'
        bracket = -1  # where an unquoted '[' waits for its ']'
        while pos < size:
            run = _PLAIN_RUN.match(text, pos)
            if run is not None:  # the common case: ordinary characters, taken together
                chunk = run.group()
                buf.append(chunk)
                length += len(chunk)
                last = chunk[-1]
                if plain:
                    plain_len += len(chunk)
                pos = run.end()
                continue
            char = text[pos]
            if char in WORD_END:
                if char != "(":
                    break
                if last and last in "@!+*?":  # extglob @(...) !(...) and friends
                    end = self._balanced_end(pos)
                    first_glob = first_glob or length == 1
                    buf.append(text[pos:end])
                    length += end - pos
                    glob = True
                    plain, last, pos = False, "", end
                    continue
                if plain and last == "=" and _ASSIGN_NAME.fullmatch("".join(buf)[:-1]):  # NAME=(array)
                    end = self._array_end(pos, ctx)
                    buf.append(text[pos:end])
                    length += end - pos
                    plain, last, pos = False, "", end
                    continue
                if length == 1 and last == "=":  # zsh =(...) process substitution
                    end = self.run(pos + 1, ctx.deeper(), until_paren=True)
                    buf.append(text[pos:end])
                    dynamic, plain, last, pos = True, False, "", end
                    continue
                break
            if char == "\\":
                if pos + 1 >= size:
                    buf.append("\\")
                    length += 1
                    pos += 1
                    continue
                next_char = text[pos + 1]
                pos += 2
                if next_char == "\n":
                    continue
                buf.append(next_char)
                length += 1
                quoted, plain, last = True, False, ""
                continue
            if char == "'":
                end = self._closing("'", pos)
                chunk = text[pos + 1 : end]
                buf.append(chunk)
                length += len(chunk)
                self._maybe_code(chunk, ctx)
                quoted, plain, last, pos = True, False, "", end + 1
                continue
            if char == '"':
                before = len(buf)
                pos, dyn = self._double_quoted(pos + 1, buf, ctx)
                length += _chars_since(buf, before)
                dynamic = dynamic or dyn
                quoted, plain, last = True, False, ""
                continue
            if char == "$":
                before = len(buf)
                pos, kind = self._dollar(pos, buf, ctx, in_dq=False)
                length += _chars_since(buf, before)
                if kind == _DOLLAR_DYNAMIC:
                    dynamic, plain, last = True, False, ""
                elif kind == _DOLLAR_QUOTED:
                    quoted, plain, last = True, False, ""
                else:
                    last = "$"
                    if plain:
                        plain_len += 1
                continue
            if char == "`":
                before = len(buf)
                pos = self._backquoted(pos, buf, ctx, in_dq=False)
                length += _chars_since(buf, before)
                dynamic, plain, last = True, False, ""
                continue
            if char == "*" or char == "?":
                glob = True
                first_glob = first_glob or length == 0
            elif char == "[":
                if bracket < 0:
                    bracket = length
            elif char == "]":
                if bracket >= 0:
                    glob = True
                    first_glob = first_glob or bracket == 0
                    bracket = -1
            elif char == "{":
                brace_stage = brace_stage or 1
            elif char == "," or (char == "." and last == "."):
                if brace_stage == 1:
                    brace_stage = 2
            elif char == "}" and brace_stage == 2:
                brace = True
            buf.append(char)
            length += 1
            last = char
            if plain:
                plain_len += 1
            pos += 1
        word = "".join(buf)
        eq = word.find("=")
        assign = 0 < eq < plain_len and _ASSIGN_NAME.fullmatch(word[:eq]) is not None
        unknown = dynamic or brace or (glob and (first_glob or word.startswith("-")))
        return Word(word, dynamic, glob, brace, quoted, assign, unknown), pos

    def _double_quoted(self, pos: int, buf: list[str], ctx: Context) -> tuple[int, bool]:
        """After an opening double quote: to just past the closing one."""
        text, size = self.text, self.size
        dynamic = False
        while pos < size:
            char = text[pos]
            if char == '"':
                return pos + 1, dynamic
            if char == "\\" and pos + 1 < size:
                next_char = text[pos + 1]
                if next_char == "\n":
                    pos += 2
                elif next_char in '$`"\\':
                    buf.append(next_char)
                    pos += 2
                else:
                    buf.append("\\")
                    pos += 1
                continue
            if char == "$":
                pos, kind = self._dollar(pos, buf, ctx, in_dq=True)
                dynamic = dynamic or kind == _DOLLAR_DYNAMIC
                continue
            if char == "`":
                pos = self._backquoted(pos, buf, ctx, in_dq=True)
                dynamic = True
                continue
            end = pos + 1
            while end < size and text[end] not in '"\\$`':
                end += 1
            buf.append(text[pos:end])
            pos = end
        return size, dynamic

    def _dollar(self, pos: int, buf: list[str], ctx: Context, *, in_dq: bool) -> tuple[int, int]:
        """At a ``$``: returns the end and whether the result is dynamic, quoted text, or a literal ``$``."""
        text, size = self.text, self.size
        next_char = text[pos + 1] if pos + 1 < size else ""
        if next_char == "(":
            if text.startswith("((", pos + 1):
                end = self.arithmetic_end(pos + 3)
                if end is not None:
                    self.scan_substitutions(pos + 3, end - 2, ctx)
                    buf.append(text[pos:end])
                    return end, _DOLLAR_DYNAMIC
            end = self.run(pos + 2, ctx.deeper(), until_paren=True)
            buf.append(text[pos:end])
            return end, _DOLLAR_DYNAMIC
        if next_char == "{":
            end = self._parameter_expansion(pos + 2, ctx, in_dq=in_dq)
            buf.append(text[pos:end])
            return end, _DOLLAR_DYNAMIC
        if next_char == "[":  # bash's old $[arithmetic]
            buf.append("$")
            return pos + 1, _DOLLAR_DYNAMIC
        if not in_dq and next_char == "'":
            decoded, end = decode_ansi_c(text, pos + 2)
            buf.append(decoded)
            self._maybe_code(decoded, ctx)
            return end, _DOLLAR_QUOTED
        if not in_dq and next_char == '"':  # $"..." (locale translation)
            end, dynamic = self._double_quoted(pos + 2, buf, ctx)
            return end, _DOLLAR_DYNAMIC if dynamic else _DOLLAR_QUOTED
        if next_char and next_char in _SPECIAL_PARAMS:
            buf.append(text[pos : pos + 2])
            return pos + 2, _DOLLAR_DYNAMIC
        if next_char and next_char.isascii() and (next_char.isalpha() or next_char == "_"):
            match = _NAME.match(text, pos + 1)
            end = match.end() if match else pos + 2
            buf.append(text[pos:end])
            return end, _DOLLAR_DYNAMIC
        buf.append("$")
        return pos + 1, _DOLLAR_LITERAL

    def _parameter_expansion(self, pos: int, ctx: Context, *, in_dq: bool) -> int:
        """After ``${``: to just past the matching ``}``; substitutions inside are read."""
        self.lexical += 1
        if self.lexical > MAX_LEXICAL_NESTING:
            raise AnalysisAborted("${...} expansions are nested too deeply; simplify them")
        try:
            text, size = self.text, self.size
            depth = 0
            sink: list[str] = []
            while pos < size:
                char = text[pos]
                if char == "}":
                    if depth == 0:
                        return pos + 1
                    depth -= 1
                elif char == "{":
                    depth += 1
                elif char == "\\":
                    pos += 2
                    continue
                elif char == "'" and not in_dq:
                    end = self._closing("'", pos)
                    self._maybe_code(text[pos + 1 : end], ctx)
                    pos = end + 1
                    continue
                elif char == '"':
                    pos, _ = self._double_quoted(pos + 1, sink, ctx)
                    continue
                elif char == "$":
                    pos, _ = self._dollar(pos, sink, ctx, in_dq=in_dq)
                    continue
                elif char == "`":
                    pos = self._backquoted(pos, sink, ctx, in_dq=in_dq)
                    continue
                pos += 1
            return size
        finally:
            self.lexical -= 1

    def _backquoted(self, pos: int, buf: list[str], ctx: Context, *, in_dq: bool) -> int:
        """At a backtick: the old command substitution, whose text is read as shell once unescaped."""
        text, size = self.text, self.size
        inner: list[str] = []
        i = pos + 1
        while i < size:
            char = text[i]
            if char == "\\" and i + 1 < size:
                next_char = text[i + 1]
                inner.append(next_char if next_char in "$`\\" or (in_dq and next_char == '"') else char + next_char)
                i += 2
                continue
            if char == "`":
                break
            inner.append(char)
            i += 1
        end = min(i + 1, size)
        buf.append(text[pos:end])
        self.analysis.shell_text("".join(inner), ctx.deeper())
        return end

    def arithmetic_end(self, pos: int) -> int | None:
        """After ``((``: just past the matching ``))``, or None when the parentheses close otherwise.

        A look-ahead that the reader may repeat at every ``((`` of unbalanced text: it is charged to the budget.
        """
        end = self._arithmetic_end(pos)
        self.analysis.spend((self.size if end is None else end) - pos)
        return end

    def _arithmetic_end(self, pos: int) -> int | None:
        text, size = self.text, self.size
        depth = 0
        i = pos
        while i < size:
            char = text[i]
            if char == "\\":
                i += 2
                continue
            if char == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    return None
                i = end + 1
                continue
            if char == '"':
                i += 1
                while i < size and text[i] != '"':
                    i += 2 if text[i] == "\\" else 1
                i += 1
                continue
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    return i + 2 if text.startswith("))", i) else None
                depth -= 1
            i += 1
        return None

    def scan_substitutions(self, start: int, end: int, ctx: Context, *, heredoc: bool = False) -> None:
        """Substitutions inside arithmetic or an expanded here-document body."""
        self.analysis.spend(end - start)
        text = self.text
        sink: list[str] = []
        i = start
        while i < end:
            char = text[i]
            if char == "\\":
                i += 2
            elif char == "$":
                i, _ = self._dollar(i, sink, ctx, in_dq=True)
            elif char == "`":
                i = self._backquoted(i, sink, ctx, in_dq=True)
            elif char == "'" and not heredoc:
                i = self._closing("'", i) + 1
            else:
                i += 1

    def _balanced_end(self, pos: int) -> int:
        """From a ``(``: just past its matching ``)`` (quotes respected), or the end of the text."""
        text, size = self.text, self.size
        depth = 0
        i = pos
        while i < size:
            char = text[i]
            if char == "\\":
                i += 2
                continue
            if char == "'" or char == '"':
                i = self._closing(char, i) + 1
                continue
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if depth == 0:
                    self.analysis.spend(i + 1 - pos)
                    return i + 1
            i += 1
        self.analysis.spend(size - pos)
        return size

    def _array_end(self, pos: int, ctx: Context) -> int:
        """``NAME=( words )``: the words are data, but substitutions in them run."""
        self.lexical += 1
        if self.lexical > MAX_LEXICAL_NESTING:
            raise AnalysisAborted("NAME=(...) arrays are nested too deeply; simplify them")
        try:
            return self._array_words_end(pos, ctx)
        finally:
            self.lexical -= 1

    def _array_words_end(self, pos: int, ctx: Context) -> int:
        text, size = self.text, self.size
        i = pos + 1
        while i < size:
            char = text[i]
            if char in " \t\n":
                i += 1
            elif char == ")":
                return i + 1
            elif char == "#":
                newline = text.find("\n", i)
                i = size if newline < 0 else newline
            elif char in WORD_END:
                i += 1
            else:
                _, i = self.read_word(i, ctx)
        return size

    def _closing(self, quote: str, pos: int) -> int:
        """From an opening quote at ``pos``: where its closing quote is, or the end of the text."""
        close = self.text.find(quote, pos + 1)
        return self.size if close < 0 else close

    def _maybe_code(self, chunk: str, ctx: Context) -> None:
        """Quoted text holding $( or backticks may still be evaluated by bash (arithmetic, PS4, ${x@P})."""
        if "$(" in chunk or "`" in chunk:
            self.analysis.speculate(chunk, ctx)


def _chars_since(buf: list[str], before: int) -> int:
    """How many characters were appended to ``buf`` since it held ``before`` parts."""
    return sum(len(part) for part in buf[before:])
