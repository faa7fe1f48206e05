"""A scripted person at the dev OIDC issuer's pages: press a dev user's button (or Deny) without a browser.

Tests of ``kubejit login`` and scripts call it with the URL the CLI prints: :func:`sign_in` opens the login
page, reads its form as a browser would (hidden fields, buttons), presses the button and delivers the
redirect to the CLI's loopback listener; :func:`answer_device` does the same on the device page. It reads
only the issuer's own pages (:mod:`kubejit.devcluster.oidc_pages`).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

from kubejit.domain.errors import Unavailable


@dataclass
class PageForm:
    """The one form of a page: where it posts, its inputs' values, its buttons as (name, value, label)."""

    action: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)

    def pressing(self, user: str | None, **typed: str) -> dict[str, str]:
        """The form data a browser posts when ``user``'s button (None: Deny) is pressed, after typing ``typed``."""
        wanted = ("deny", "deny") if user is None else ("user", user)
        if not any(button[:2] == wanted for button in self.buttons):
            labels = ", ".join(repr(button[2]) for button in self.buttons)
            raise Unavailable(f"the dev issuer's page has no button for {user or 'Deny'!r}; its buttons: {labels}")
        return {**self.fields, **typed, wanted[0]: wanted[1]}


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.form = PageForm()
        self._button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.form.action = attributes.get("action", "")
        elif tag == "input" and "name" in attributes:
            self.form.fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "button":
            self._button = [attributes.get("name", ""), attributes.get("value", ""), ""]

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button[2] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None:
            name, value, label = self._button
            self.form.buttons.append((name, value, " ".join(label.split())))
            self._button = None


def read_form(html: str) -> PageForm:
    """The form of one of the dev issuer's pages."""
    reader = _FormReader()
    reader.feed(html)
    return reader.form


def _page(client: httpx.Client, url: str) -> tuple[str, PageForm]:
    page = client.get(url)
    if page.status_code != 200:
        raise Unavailable(f"the dev issuer's page {url} answered {page.status_code}: {page.text[:300]}")
    return str(page.url), read_form(page.text)


def sign_in(authorize_url: str, user: str | None, *, verify: ssl.SSLContext, deliver: bool = True) -> str:
    """Press ``user``'s button (None: Deny) on the login page at ``authorize_url``; returns where the issuer
    redirects (the client's loopback redirect URI with code or error), after visiting it if ``deliver``."""
    with httpx.Client(verify=verify, timeout=10.0) as client:
        url, form = _page(client, authorize_url)
        answer = client.post(urljoin(url, form.action), data=form.pressing(user))
        location: str | None = answer.headers.get("location")
        if answer.status_code != 303 or location is None:
            raise Unavailable(f"the dev issuer did not redirect ({answer.status_code}): {answer.text[:300]}")
    if deliver:  # plain http on loopback: the CLI's listener, not the issuer
        httpx.get(location, timeout=10.0)
    return location


def answer_device(verification_uri: str, user: str | None, *, verify: ssl.SSLContext, user_code: str = "") -> str:
    """Enter ``user_code`` (already filled in from ``verification_uri_complete`` if empty) on the device page
    and press ``user``'s button (None: Deny); returns the text of the page that answers."""
    with httpx.Client(verify=verify, timeout=10.0) as client:
        url, form = _page(client, verification_uri)
        typed = {"user_code": user_code} if user_code else {}
        answer = client.post(urljoin(url, form.action), data=form.pressing(user, **typed))
        return answer.text
