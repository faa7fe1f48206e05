"""``kubejit gateway --config FILE``: run the gateway until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer


def gateway(
    config: Annotated[Path, typer.Option("--config", help="The gateway config file (kind: GatewayConfig).")],
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the kubejit gateway: an authenticating Kubernetes API proxy that enforces grants."""
    from kubejit.config import load_gateway_config
    from kubejit.entrypoints.gateway.main import main

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main(load_gateway_config(config))
