"""Decoding of bash's ``$'...'`` strings, so that ``$'\x72m'`` is read as ``rm``.

Why this exists: ANSI-C quoting is a way to spell a program name without writing it; the word lexer
(:mod:`._lexer`) calls :func:`decode_ansi_c` when it meets ``$'`` outside double quotes.
"""

from __future__ import annotations

_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "'": "'", '"': '"', "?": "?",
}  # fmt: skip
_NUMERIC_ESCAPES = {"x": (16, 2), "u": (16, 4), "U": (16, 8)}  # letter -> (base, most digits)
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_OCTAL_DIGITS = frozenset("01234567")


def decode_ansi_c(text: str, pos: int) -> tuple[str, int]:
    """Decode ``$'...'`` from just after the opening quote; returns the text and the end."""
    out: list[str] = []
    size = len(text)
    i = pos
    while i < size:
        char = text[i]
        if char == "'":
            return "".join(out), i + 1
        if char != "\\" or i + 1 >= size:
            out.append(char)
            i += 1
            continue
        escape = text[i + 1]
        i += 2
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
        elif escape in _NUMERIC_ESCAPES or escape in _OCTAL_DIGITS:
            decoded, i = _numeric_escape(text, i, escape)
            out.append(decoded)
        elif escape == "c" and i < size:
            out.append(chr(ord(text[i]) & 0x1F))
            i += 1
        else:
            out.append("\\" + escape)
    return "".join(out), size


def _numeric_escape(text: str, pos: int, escape: str) -> tuple[str, int]:
    """``\\xHH``, ``\\uHHHH``, ``\\UHHHHHHHH`` or ``\\NNN`` (octal) with ``pos`` just after the escape letter."""
    base, width = _NUMERIC_ESCAPES.get(escape, (8, 3))
    digits = _HEX_DIGITS if base == 16 else _OCTAL_DIGITS
    start = pos if base == 16 else pos - 1  # an octal escape's letter is its first digit
    end = start
    while end < len(text) and end - start < width and text[end] in digits:
        end += 1
    if end == start:
        return "\\" + escape, pos
    value = int(text[start:end], base)
    return (chr(value) if value <= 0x10FFFF else "\ufffd"), end
