"""Messages never point at a command that does not exist: every "`kubejit X`", "run kubejit X", "try kubejit X"
and "with kubejit X" in kubejit's own strings (errors, help, function docstrings) names a command of the real CLI, and a
group's subcommand when it names one (``kubejit audit verify``). Found in the source's string constants with
:mod:`ast`; resolved against ``main.build_command()``, so renaming a command without its messages fails here."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from typer import _click

import kubejit
from kubejit.entrypoints.cli.main import build_command

SOURCE = Path(kubejit.__file__).parent
_MENTION = re.compile(r"(?:`|\brun |\btry |\bwith )(?:kubejit|kubectl jit) ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?")


def mentions(text: str) -> Iterator[tuple[str, ...]]:
    for found in _MENTION.finditer(text):
        yield tuple(word for word in found.groups() if word)


def strings_of(path: Path) -> Iterator[tuple[int, str]]:
    """Every string constant but the module's docstring (written for developers; a command's docstring is its
    --help, and is checked)."""
    tree = ast.parse(path.read_text(), str(path))
    docstring = tree.body[0].value if tree.body and isinstance(tree.body[0], ast.Expr) else None
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node is not docstring:
            yield node.lineno, node.value


def unknown_command(words: tuple[str, ...], root: _click.Command) -> str | None:
    """None when ``words`` name a command (a group's further word must be one of its subcommands)."""
    command: _click.Command = root
    for depth, word in enumerate(words):
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            return None  # a leaf: what follows is its argument
        if word not in subcommands:
            return None if depth > 0 and _looks_like_argument(word) else f"no command {' '.join(words[: depth + 1])!r}"
        command = subcommands[word]
    return None


def _looks_like_argument(word: str) -> bool:
    return word.isupper() or word in {"help"}


def test_the_check_knows_real_commands_from_made_up_ones() -> None:
    root = build_command()
    assert list(mentions("run `kubejit audit verify` or kubejit login")) == [("audit", "verify")]
    assert unknown_command(("audit", "verify"), root) is None
    assert unknown_command(("login",), root) is None
    assert unknown_command(("request", "payments-debug"), root) is None  # an argument of a leaf command
    assert unknown_command(("audit", "init"), root) == "no command 'audit init'"
    assert unknown_command(("profile",), root) == "no command 'profile'"


def test_every_command_a_message_names_exists() -> None:
    root = build_command()
    wrong = []
    for path in sorted(SOURCE.rglob("*.py")):
        for line, text in strings_of(path):
            for words in mentions(text):
                problem = unknown_command(words, root)
                if problem:
                    wrong.append(f"{path.relative_to(SOURCE)}:{line}: {problem} in {text[:80]!r}")
    assert wrong == []
