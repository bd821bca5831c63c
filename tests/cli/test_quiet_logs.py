"""Logs are quiet by default: a one-off ``poll`` writes no library chatter (httpx, trafilatura, alembic) to
stderr; ``-v`` shows it. (The daemon's one line per poll: tests/daemon/test_service.py.)"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.cli.logs import configure_logging
from tests.builders import cli, rss


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_poll_is_quiet_unless_verbose(httpserver: HTTPServer, write_config: Callable[..., Path],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(base, [("a", "Modi and Putin hold talks at the annual summit", "2025-12-05")]),
        content_type="application/rss+xml")
    httpserver.expect_request("/articles/a.html").respond_with_data(
        "<html><body><p>Modi and Putin held talks in New Delhi on 5 December.</p></body></html>",
        content_type="text/html")
    config = write_config([{"name": "local", "url": f"{base}/feed.xml"}])
    try:
        code, _, quiet = cli(capsys, "poll", config=config)
        assert code == 0 and "HTTP Request" not in quiet and "httpx" not in quiet
        code, _, verbose = cli(capsys, "-v", "poll", config=config)
        assert code == 0 and "HTTP Request: GET" in verbose  # httpx's own INFO line, shown with -v
    finally:
        configure_logging()  # the next test starts from the default levels


def test_the_levels_ours_at_info_for_the_daemon_libraries_at_warning(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        configure_logging(ours=logging.INFO)  # as run sets it
        logging.getLogger("monitor.daemon.jobs").info("polled local: 1 new")
        logging.getLogger("httpx").info("HTTP Request: GET http://127.0.0.1/feed.xml")
        logging.getLogger("apscheduler.executors.default").info("Job executed successfully")
        err = capsys.readouterr().err
        assert "polled local: 1 new" in err and "HTTP Request" not in err and "Job executed" not in err
        configure_logging(verbose=True, ours=logging.INFO)
        logging.getLogger("httpx").info("HTTP Request: GET http://127.0.0.1/feed.xml")
        logging.getLogger("apscheduler.executors.default").info("Job executed successfully")
        err = capsys.readouterr().err
        assert "HTTP Request" in err and "Job executed" not in err  # APScheduler's INFO contradicts ours
    finally:
        configure_logging()
