"""The reader's browser for the README walk-through test: ``BROWSER='python tests/readme_browser.py %s'``.

``kubejit login`` opens its sign-in URL with Python's ``webbrowser``, which runs ``$BROWSER`` with the URL. This
program opens it in headless Chromium (tests/browser.py, a fresh profile each time) and presses the button of the
dev user named in the file ``$KUBEJIT_TEST_PICK`` (the test writes there whom the README says to pick), as a
person would on the dev issuer's page, then waits until the browser has reached ``kubejit login``'s loopback
receiver. Like a desktop browser's launcher it returns at once and does the rest in the background: Python's
``webbrowser`` waits for a ``$BROWSER`` command to exit before ``kubejit login`` starts answering its loopback
receiver, so a launcher that waited for the sign-in would wait for itself. What goes wrong is said on stderr.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import chromium_page


def main(url: str) -> int:
    user = Path(os.environ["KUBEJIT_TEST_PICK"]).read_text().strip()
    if os.fork() != 0:
        return 0  # the launcher is done; the browser goes on
    with tempfile.TemporaryDirectory(prefix="readme-browser-") as profile, chromium_page(Path(profile)) as page:
        page.goto(url)
        page.click(f'button[name=user][value="{user}"]')
        page.wait_for_url("**/callback**")
        page.wait_for_load_state()
        print(f"readme browser: signed in as {user}: {page.inner_text('body')[:200]}", file=sys.stderr)
    os._exit(0)  # the forked child: no cleanup handlers of the parent's


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
