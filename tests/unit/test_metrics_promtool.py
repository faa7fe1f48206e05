"""`promtool check rules` on deploy/prometheus/kubejit-alerts.yaml, with Debian's promtool (tests/promtool.py,
prepared by ``make binaries``) or the one KUBEJIT_PROMTOOL names. Without either the test is skipped, saying why;
test_metrics_files.py checks the metric names either way."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.promtool import NoPromtool, prepare

ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "kubejit-alerts.yaml"


def test_promtool_accepts_the_alert_rules(tmp_path: Path) -> None:
    try:
        promtool = str(prepare(fetch=False))  # fetched by make binaries, not by a unit test
    except NoPromtool as why:
        pytest.skip(f"no promtool: {why}")
    checked = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(ALERTS.read_text().replace("sum(kubejit_leader) < 1", "sum(kubejit_leader) <"))
    refused = subprocess.run([promtool, "check", "rules", str(broken)], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0  # the check can fail: a broken expression is refused
