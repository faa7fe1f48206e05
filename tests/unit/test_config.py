"""The broker config refuses unsafe or ambiguous settings with a message that says what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Never

import pytest

from kubejit.config import load_config
from kubejit.domain.durations import parse_duration
from kubejit.domain.errors import InvalidInput
from kubejit.entrypoints.cli.client import BrokerClient

BASE = """\
apiVersion: kubejit.io/v1alpha1
kind: BrokerConfig
policyFile: policy.yaml
oidc: [{issuer: "https://idp.example.com"}]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kubejit.yaml"
    path.write_text(text)
    return path


def test_relative_paths_are_taken_from_the_config_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE))
    assert config.policy_file == tmp_path / "policy.yaml"
    assert config.database_url == f"sqlite:///{tmp_path / 'kubejit.db'}"
    # Issue 10: the audit signing key is no longer kept beside the database by default.
    assert config.audit.signing_key_file == Path("/etc/kubejit/audit/signing.key")


def test_plain_http_off_loopback_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="clear text: set tlsCertFile and tlsKeyFile, or allowPlainHttp"):
        load_config(write(tmp_path, BASE + "listen: {address: 0.0.0.0}\n"))
    assert load_config(write(tmp_path, BASE + "listen: {address: 0.0.0.0, allowPlainHttp: true}\n"))


def test_only_one_issuer_until_identities_carry_their_issuer(tmp_path: Path) -> None:
    two = BASE.replace(
        'oidc: [{issuer: "https://idp.example.com"}]',
        'oidc: [{issuer: "https://a.example.com"}, {issuer: "https://b.example.com"}]',
    )
    with pytest.raises(InvalidInput, match="oidc"):
        load_config(write(tmp_path, two))


def test_unknown_fields_and_bad_durations_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as raised:
        load_config(write(tmp_path, BASE + "reconcile: {pollInterval: soon, sweepEvery: 5s}\n"))
    message = str(raised.value)
    assert "reconcile.pollInterval" in message
    assert "reconcile.sweepEvery" in message


def test_durations_longer_than_a_year_are_refused() -> None:
    with pytest.raises(InvalidInput, match="longer than a year"):
        parse_duration("99999999999h")


def test_the_cli_never_sends_a_token_in_clear_text_off_this_machine() -> None:
    with pytest.raises(InvalidInput, match="clear text"):
        BrokerClient.from_options("http://broker.example.com", "token")
    assert BrokerClient.from_options("http://127.0.0.1:8080", "token").server == "http://127.0.0.1:8080"
    assert BrokerClient.from_options("https://broker.example.com/", "token").server == "https://broker.example.com"


def test_the_checkpoint_store_the_config_names(tmp_path: Path) -> None:
    from kubejit.adapters.kube.checkpoint import FileCheckpoints
    from kubejit.bootstrap import checkpoint_store

    def no_cluster() -> Never:
        raise AssertionError("the file store needs no Kubernetes client")

    key = tmp_path / "keys" / "audit.pem"
    audit = f"audit: {{checkpointFile: checkpoint.json, signingKeyFile: {key}}}\n"
    assert isinstance(checkpoint_store(load_config(write(tmp_path, BASE + audit)), no_cluster), FileCheckpoints)
    assert key.exists()  # created on first use
    none = f"audit: {{checkpointConfigMap: '', signingKeyFile: {key}}}\n"
    assert checkpoint_store(load_config(write(tmp_path, BASE + none)), no_cluster) is None
