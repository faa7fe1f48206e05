"""One way to build the Kubernetes client kubejit's own components use (lightkube, synchronous)."""

from __future__ import annotations

from pathlib import Path

import httpx2
import yaml
from lightkube import Client, ConfigError
from lightkube.config.kubeconfig import KubeConfig

from kubejit.domain.errors import InvalidInput


def make_client(kubeconfig: Path | None, *, timeout_seconds: float = 10.0, field_manager: str = "kubejit") -> Client:
    """A client from a kubeconfig file, or from the in-cluster ServiceAccount when ``kubeconfig`` is None."""
    try:
        config = KubeConfig.from_file(str(kubeconfig)) if kubeconfig else KubeConfig.from_service_account()
    except (OSError, ConfigError, yaml.YAMLError) as error:
        where = f"kubeconfig {kubeconfig}" if kubeconfig else "the in-cluster ServiceAccount"
        raise InvalidInput(f"cannot use {where}: {error}") from error
    return Client(config=config, timeout=httpx2.Timeout(timeout_seconds), field_manager=field_manager)
