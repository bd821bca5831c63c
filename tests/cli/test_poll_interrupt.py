"""Ctrl-C during ``news-monitor poll``: the polls that finished are committed and counted, the one in flight
finishes its entry and is due again at once, and the exit code is 130. A child process, real local servers
on 127.0.0.1, a real SIGINT."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from monitor.config import load_config
from storage.eventlog import EventLog
from tests.builders import REPO, hourly_rss
from tests.ingest.test_polling import Site


def polled(url: str) -> list[dict]:
    log = EventLog.open(url, migrate=True)
    try:
        return [e.data for e in log.read(types=["FeedPolled"])]
    finally:
        log.close()


def test_ctrl_c_commits_the_finished_polls_and_exits_130(write_config: Callable[..., Path]) -> None:
    site = Site()
    try:
        now = dt.datetime.now(dt.UTC)
        site.route("/fast.xml", hourly_rss(site.base, 3, now, "fast"))
        # still answering at Ctrl-C, well within the read timeout (20 s)
        site.route("/slow.xml", hourly_rss(site.base, 3, now, "slow"), delay=8)
        config = write_config([{"name": "fast", "url": f"{site.base}/fast.xml", "fetch_full_text": False},
                               {"name": "slow", "url": f"{site.base}/slow.xml", "fetch_full_text": False}],
                              scheduler={"max_workers": 2}, read_timeout="20s", total_timeout="30s")
        url = load_config(config).storage.url
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWS_MONITOR_")}
        child = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "poll"], cwd=REPO,
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(p.startswith("/slow.xml") for p, _ in site.requests):
                time.sleep(0.05)
            # The fast feed is done well before the slow one's answer (its three entries, and fitting the tagger
            # once, take about a second even on a loaded machine); the slow one is waiting for its answer.
            time.sleep(4)
            child.send_signal(signal.SIGINT)
            _, stderr = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
    finally:
        site.close()
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "fast: ok (3 entries, 3 new" in stderr
    assert "interrupted: 1 of 2 polls finished and were committed" in stderr
    by_feed = {p["feed"]: p for p in polled(url)}
    assert by_feed["fast"]["status"] == "ok" and by_feed["fast"]["new_entries"] == 3
    # the slow poll got its answer after Ctrl-C: it started no entry, and it is due at once
    assert by_feed["slow"]["status"] == "interrupted" and by_feed["slow"]["schedule"] == "interrupted"
    assert dt.datetime.fromisoformat(by_feed["slow"]["next_poll_at"]) <= dt.datetime.now(dt.UTC)
