"""The two transport rules every kubejit connection follows, in one place and with the standard library only.

1. **Plain HTTP only to loopback.** ID tokens, grant tokens and webhook secrets travel in headers and bodies, so a
   URL kubejit sends them to must be ``https://``; ``http://`` is accepted only for a host on this machine
   (``localhost`` or a loopback address: 127.0.0.0/8, ::1), which is what tests and the demo use.
2. **Trust comes from a PEM bundle or the system.** A CA file or PEM text, when given, is the only trust; without
   one, the system's roots are.

The CLI's broker client, the lean ``kubejit token`` plugin, the broker's listen settings, the OIDC key fetcher,
the webhook notifier and the gateway all call these, each wording the refusal for its own reader. ``ipaddress``
and ``ssl`` are imported only when called, so importing this module costs the token plugin nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the token plugin keeps typing out of its start-up
if TYPE_CHECKING:
    import ssl
    from pathlib import Path

NOT_AN_HTTP_URL = "not-an-http-url"
PLAIN_HTTP_OFF_LOOPBACK = "plain-http-off-loopback"


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal (brackets of an IPv6 literal allowed)."""
    import ipaddress

    name = host.strip().lower().removeprefix("[").removesuffix("]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> str | None:
    """None when ``url`` may carry credentials; otherwise :data:`NOT_AN_HTTP_URL` (no http(s) scheme or no host,
    or not a URL at all) or :data:`PLAIN_HTTP_OFF_LOOPBACK`."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return NOT_AN_HTTP_URL
    if parts.scheme not in ("http", "https") or not host:
        return NOT_AN_HTTP_URL
    if parts.scheme == "http" and not is_loopback(host):
        return PLAIN_HTTP_OFF_LOOPBACK
    return None


class TrustError(ValueError):
    """The CA bundle cannot be used; the message says why (callers add which setting it came from)."""


def trust_context(
    *, cafile: str | Path | None = None, cadata: str | bytes | None = None, for_clients: bool = False
) -> ssl.SSLContext:
    """A TLS context that trusts only ``cafile`` or ``cadata`` (PEM) when one is given, the system's roots otherwise.

    ``for_clients`` makes a server-side context (which verifies client certificates against the bundle, if any).
    """
    import ssl

    purpose = ssl.Purpose.CLIENT_AUTH if for_clients else ssl.Purpose.SERVER_AUTH
    if cafile is not None and cadata is not None:
        raise TrustError("give a CA file or PEM text, not both")
    try:
        text = cadata.decode("ascii") if isinstance(cadata, bytes) else cadata
        return ssl.create_default_context(purpose, cafile=None if cafile is None else str(cafile), cadata=text)
    except (OSError, ssl.SSLError, UnicodeDecodeError, ValueError) as error:
        raise TrustError(f"not a readable PEM certificate bundle ({error})") from None
