"""``news-monitor health --url``: a container healthcheck asking the running page's /healthz over HTTP."""

from __future__ import annotations

from pathlib import Path

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
