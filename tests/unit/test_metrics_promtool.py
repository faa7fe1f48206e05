"""`promtool check rules` on deploy/prometheus/kubejit-alerts.yaml, when a promtool binary is at hand: set
KUBEJIT_PROMTOOL to it (build: `go build github.com/prometheus/prometheus/cmd/promtool@v0.316.0` in a module of
its own). Without one the test is skipped; test_metrics_files.py checks the metric names either way."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "kubejit-alerts.yaml"


def test_promtool_accepts_the_alert_rules(tmp_path: Path) -> None:
    promtool = os.environ.get("KUBEJIT_PROMTOOL")
    if not promtool or not os.access(promtool, os.X_OK):
        pytest.skip("no promtool: set KUBEJIT_PROMTOOL to a promtool binary to check the rules file with it")
    checked = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(ALERTS.read_text().replace("sum(kubejit_leader) < 1", "sum(kubejit_leader) <"))
    refused = subprocess.run([promtool, "check", "rules", str(broken)], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0  # the check can fail: a broken expression is refused
