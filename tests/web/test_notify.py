"""``serve`` under systemd: READY=1 when the app has started, WATCHDOG=1 from its event loop, STOPPING=1."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from monitor.web import create_app
from tests.builders import config_for
from tests.daemon.test_daemon import wait_for
from tests.notify import abstract_notify_socket


def test_the_page_notifies_ready_watchdog_and_stopping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with abstract_notify_socket("news-monitor-web") as (address, manager):
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        monkeypatch.setenv("WATCHDOG_USEC", "200000")
        config = config_for(f"sqlite:///{tmp_path / 'log.sqlite3'}", tmp_path)
        with TestClient(create_app(config), base_url="http://127.0.0.1:8080") as client:
            assert wait_for(lambda: len(manager.having("WATCHDOG")) >= 3, 10)
            assert client.get("/healthz", params={"daemon": "0"}).status_code == 200
            assert manager.having("READY") and not manager.having("STOPPING")
        assert wait_for(lambda: bool(manager.having("STOPPING")), 5)
        kinds = [next(iter(fields)) for _, fields in manager.messages]
        assert kinds[0] == "READY" and kinds[-1] == "STOPPING"
