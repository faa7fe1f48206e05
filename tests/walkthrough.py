"""The README's walk-through as data: the shell lines of its marked fenced blocks, and how ``make demo`` starts.

A block belongs to the walk-through when the line before its opening fence is ``<!-- walkthrough: NAME ... -->``
(README.md and docs/quickstart.md mark theirs). ``tests/e2e/test_readme_walkthrough.py`` runs these lines as
written; ``tests/unit/test_walkthrough_text.py`` checks the two documents say the same thing. Pure: text in,
lines out.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = "/tmp/kubejit-demo"  # noqa: S108 - what the README and `make demo` name; a test runs the demo elsewhere
_MARKED_BLOCK = re.compile(r"^<!-- walkthrough: (\S+)[^\n]*-->\n```(?:sh|bash|console)\n(.*?)^```$", re.M | re.S)


def walkthrough_blocks(markdown: str) -> dict[str, list[str]]:
    """NAME -> the block's command lines (blank lines and lines that are only a comment left out)."""
    blocks: dict[str, list[str]] = {}
    for name, body in _MARKED_BLOCK.findall(markdown):
        if name in blocks:
            raise ValueError(f"two walk-through blocks are named {name!r}")
        blocks[name] = [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return blocks


def comment_of(line: str) -> str:
    """The shell comment at the end of ``line`` ('' if none): a ``#`` after a blank, outside quotes."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[index + 1 :].strip()
    return ""


def picked_user(line: str) -> str | None:
    """Who the reader picks on the sign-in page for this line ("# pick alice ..."), if it signs in."""
    found = re.search(r"\bpick (\w+)", comment_of(line))
    return found[1] if found else None


def make_recipe(makefile: str, target: str) -> list[str]:
    """The command lines of ``target``'s recipe in a Makefile (tab-indented lines after ``target:``)."""
    found = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", makefile, re.M)
    if found is None:
        raise ValueError(f"the Makefile has no recipe for {target!r}")
    return [line.strip() for line in found[1].splitlines()]
