"""The dev OIDC issuer's HTML: the login page, the device page, and the pages that say what went wrong.

:mod:`kubejit.devcluster.oidc_endpoints` renders them. Every value that came from a request or from the
issuer's state goes through :func:`html.escape`; the pages load nothing (no script, no image, no remote
style), and each form carries the transaction id of the page it was shown on, so a POST from elsewhere
does not sign anybody in. One button per dev user (with the groups the cluster will see) and one "Deny".
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from urllib.parse import urlsplit

from kubejit.devcluster.oidc_requests import LoginRequest
from kubejit.devcluster.users import DevUser

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.4rem; } .note { color: #666; font-size: .9rem; } .problem { color: #a00; }
button { display: block; width: 100%; margin: .4rem 0; padding: .6rem; font-size: 1rem; text-align: left; }
button small { color: #666; } button.deny { text-align: center; background: #fee; }
input[name=user_code] { font-size: 1.4rem; letter-spacing: .2rem; width: 12rem; text-transform: uppercase; }
"""


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _user_buttons(users: Sequence[DevUser]) -> str:
    buttons = []
    for user in users:
        groups = ", ".join(user.groups) or "no groups"
        buttons.append(
            f'<button type=submit name=user value="{escape(user.name)}">'
            f"{escape(user.name)} <small>({escape(groups)})</small></button>"
        )
    buttons.append("<button type=submit name=deny value=deny class=deny>Deny</button>")
    return "\n".join(buttons)


def _warning() -> str:
    return (
        "<p class=note>This is kubejit's <strong>development</strong> identity provider: it checks no "
        "password, whoever clicks a name is that person. Never use it for a real cluster.</p>"
    )


def login_page(*, transaction: str, request: LoginRequest, users: Sequence[DevUser]) -> str:
    """Pick a dev user to sign in to ``request.client_id`` (answered at ``request.redirect_uri``), or deny."""
    target = urlsplit(request.redirect_uri)
    body = (
        "<h1>Sign in to the kubejit dev cluster</h1>\n"
        f"<p>The application <strong>{escape(request.client_id)}</strong> asks who you are; the answer goes "
        f"to <code>{escape(f'{target.scheme}://{target.netloc}')}</code> on this machine.</p>\n"
        '<form method=post action="/authorize">\n'
        f'<input type=hidden name=transaction value="{escape(transaction)}">\n'
        f"{_user_buttons(users)}\n</form>\n{_warning()}"
    )
    return _document("Sign in - kubejit dev issuer", body)


def device_page(*, transaction: str, users: Sequence[DevUser], user_code: str = "", problem: str | None = None) -> str:
    """Type the code a terminal shows (or find it filled in from the link), then pick a dev user or deny."""
    shown_problem = f"<p class=problem>{escape(problem)}</p>\n" if problem else ""
    body = (
        "<h1>Sign in a device to the kubejit dev cluster</h1>\n"
        f"{shown_problem}"
        '<form method=post action="/device">\n'
        f'<input type=hidden name=transaction value="{escape(transaction)}">\n'
        "<p><label>The code your terminal shows: "
        f'<input name=user_code value="{escape(user_code)}" autocomplete=off autofocus required></label></p>\n'
        f"<p>Then sign that device in as:</p>\n{_user_buttons(users)}\n</form>\n{_warning()}"
    )
    return _document("Device sign-in - kubejit dev issuer", body)


def message_page(title: str, message: str) -> str:
    """A page that only says something: an error that must not be redirected, or a device sign-in's result."""
    return _document(f"{title} - kubejit dev issuer", f"<h1>{escape(title)}</h1>\n<p>{escape(message)}</p>")
