"""The systemd units in deploy/: the directives an operator relies on, and ``systemd-analyze verify`` where
systemd is installed (the unit's ExecStart pointed at this environment's news-monitor, since /opt is not
installed here)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNITS = ["news-monitor.service", "news-monitor-web.service", "news-monitor-worker@.service"]
INSTALLED = "/opt/news-monitor/.venv/bin/news-monitor"


def directives(path: Path) -> dict[str, dict[str, list[str]]]:
    """The unit's sections, each directive with all its values (systemd allows repeats, configparser not)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.mark.parametrize("unit", UNITS)
def test_units_are_sandboxed_restarted_and_run_as_their_own_user(unit: str) -> None:
    service = directives(REPO / "deploy" / unit)["Service"]
    assert service["User"] == ["news-monitor"] and service["Group"] == ["news-monitor"]
    assert service["ProtectSystem"] == ["strict"] and service["ReadWritePaths"] == ["/var/lib/news-monitor"]
    assert service["NoNewPrivileges"] == ["yes"] and service["PrivateTmp"] == ["yes"]
    assert service["Restart"] == ["on-failure"]
    assert service["ExecStart"][0].startswith(INSTALLED + " ")
    assert "NEWS_MONITOR_CONFIG=/etc/news-monitor/monitor.toml" in service["Environment"]


@pytest.mark.parametrize("unit", ["news-monitor.service", "news-monitor-web.service", "news-monitor-worker@.service"])
def test_the_daemon_the_page_and_the_worker_notify_systemd_with_a_watchdog(unit: str) -> None:
    service = directives(REPO / "deploy" / unit)["Service"]
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    assert service["WatchdogSec"] and service["WatchdogSec"][0] not in ("0", "infinity")


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    executable = Path(sys.executable).with_name("news-monitor")
    assert executable.exists(), executable
    for unit in UNITS:
        text = (REPO / "deploy" / unit).read_text(encoding="utf-8").replace(INSTALLED, str(executable))
        (tmp_path / unit.replace("@.", "@1.")).write_text(text, encoding="utf-8")
        if "@" in unit:  # a template is verified through an instance; systemd reads the template beside it
            (tmp_path / unit).write_text(text, encoding="utf-8")
    paths = [str(tmp_path / unit.replace("@.", "@1.")) for unit in UNITS]
    result = subprocess.run([analyze, "verify", *paths], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
