"""The walk-through's text: README.md and docs/quickstart.md give the same lines, and the parser reads them."""

from __future__ import annotations

import pytest

from tests.walkthrough import ROOT, comment_of, make_recipe, picked_user, walkthrough_blocks


def test_the_quickstart_repeats_the_readme_walkthrough_line_for_line() -> None:
    readme = walkthrough_blocks((ROOT / "README.md").read_text())
    quickstart = walkthrough_blocks((ROOT / "docs" / "quickstart.md").read_text())
    assert set(readme) == {"demo", "scripts"}
    assert quickstart == readme


def test_the_walkthrough_needs_no_path_of_the_clone() -> None:
    """The demo's env file sets PATH: no line asks the reader to know where the clone's venv is."""
    lines = [line for block in walkthrough_blocks((ROOT / "README.md").read_text()).values() for line in block]
    assert lines[0].startswith("source /tmp/kubejit-demo/demo.sh")
    assert not any(".venv" in line or "export PATH" in line for line in lines)


def test_make_demo_runs_kubejit_demo_in_the_readme_directory() -> None:
    assert make_recipe((ROOT / "Makefile").read_text(), "demo") == ["$(BIN)/kubejit demo --dir /tmp/kubejit-demo"]


def test_blocks_comments_and_picks_are_read_as_the_shell_reads_them() -> None:
    text = "x\n<!-- walkthrough: one -->\n```sh\n# only a comment\n\nkubejit login   # pick bob, a lead\n```\n"
    assert walkthrough_blocks(text) == {"one": ["kubejit login   # pick bob, a lead"]}
    assert comment_of('kubejit request p --reason "INC #42"  # the id') == "the id"
    assert comment_of("echo a#b") == ""
    assert picked_user("kubejit login   # pick alice again") == "alice"
    assert picked_user("kubejit login") is None
    with pytest.raises(ValueError, match="two walk-through blocks"):
        walkthrough_blocks(text + text)
