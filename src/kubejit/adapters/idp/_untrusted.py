"""How this package quotes values it has not verified (token headers and claims, what an issuer publishes).

Why it exists: refusals must say what was wrong (which issuer, which key, which audience) without letting a
token's author fill the message or the log with their own text. Every module of the package quotes through
:func:`show`.
"""

from __future__ import annotations


def show(value: object, limit: int = 120) -> str:
    """A value from an unverified source, quoted and cut short: it is attacker-controlled text."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
