"""``kubejit whoami``: who the broker sees behind your token (user and groups), before you request anything.

The identity is the broker's reading of your ID token (``GET /api/v1/whoami``), which is the identity the cluster
sees too (DESIGN.md section 6): a wrong user or a missing group shows here, not as a refused request later.
"""

from __future__ import annotations

from typing import Any

import typer

from kubejit.entrypoints.cli.broker_options import BrokerOptions, with_broker


def _text(me: dict[str, Any]) -> None:
    groups = ", ".join(me.get("groups") or []) or "(none)"
    print(f"user    {me['user']}\ngroups  {groups}")


@with_broker
def whoami(broker: BrokerOptions) -> None:
    """Show who the broker sees: your user name and groups."""
    broker.emit(broker.call("GET", "/api/v1/whoami"), text=_text)


def register(app: typer.Typer) -> None:
    app.command("whoami")(whoami)
