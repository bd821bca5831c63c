"""``news-monitor health --url``: a container healthcheck asking the running page's /healthz over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from monitor.views.log import open_log
from monitor.web import create_app
from tests.builders import cli, config_for
from tests.daemon.test_daemon import closed_port
from tests.web.test_web import ServerThread


def test_health_asks_a_running_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_for(f"sqlite:///{tmp_path / 'log.sqlite3'}", tmp_path)
    log = open_log(config)
    try:
        with ServerThread(create_app(config, log=log)) as server:
            code, out, _ = cli(capsys, "health", "--url", f"{server.url}/healthz?daemon=0")
            assert code == 0 and out.startswith(f"{server.url}/healthz?daemon=0: the log is reachable")
            code, _, err = cli(capsys, "health", "--url", f"{server.url}/healthz")
            assert code == 1 and err.strip() == (f"unhealthy: {server.url}/healthz answered 503: no daemon has "
                                                 "started on this log (news-monitor run)")
    finally:
        log.close()
    code, _, err = cli(capsys, "health", "--url", f"http://127.0.0.1:{closed_port()}/healthz")
    assert code == 1 and err.startswith("unhealthy: ") and "did not answer: ConnectError" in err
    assert len(err.strip().splitlines()) == 1


def test_serve_as_a_process_logs_json_lines_and_answers_health(tmp_path: Path) -> None:
    port = closed_port()
    config = tmp_path / "monitor.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "log.sqlite3"}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWS_MONITOR_")}
    server = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "--log-format", "json",
                               "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/healthz?daemon=0"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        probe = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "health", "--url", url],
                               env=env, capture_output=True, text=True)
        assert probe.returncode == 0, probe.stderr
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line is JSON
    assert lines[0]["event"] == f"serving the review page on http://127.0.0.1:{port}/ (Ctrl-C to stop)"
    assert lines[0]["level"] == "info" and lines[0]["logger"] == "monitor.web"
