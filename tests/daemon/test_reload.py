"""Hot reload: a changed config file is applied by a running daemon, recorded as ConfigChanged (or
ConfigRejected), and polling never stops."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.config import load_config
from monitor.config.edit import add_keywords
from monitor.daemon.jobs import DAEMONS
from monitor.daemon.reload import Reloader
from monitor.daemon.run import Daemon
from monitor.pipeline import Monitor
from storage.eventlog import EventLog, RecordedEvent
from tests.builders import rss

REPO = Path(__file__).resolve().parents[2]
TOPIC = "india-russia-summit"


def save(path: Path, text: str) -> None:
    """Save as editors do: a new file renamed over the old one."""
    temp = path.with_name(f".{path.name}.swp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def edit(path: Path, change: Callable[[Any], None]) -> str:
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    change(document)
    return tomlkit.dumps(document)


def events(url: str, *types: str) -> list[RecordedEvent]:
    log = EventLog.open(url, migrate=True)
    try:
        return list(log.read(types=list(types) or None))
    finally:
        log.close()


def wait_for(condition: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    return None


def line_of_text(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


# --- in process: the reloader against a real log and a scheduler that is not started ----------------------


@pytest.fixture
def running(httpserver: HTTPServer, write_config: Callable[..., Path]) -> Iterator[tuple[Path, Monitor, Reloader]]:
    base = httpserver.url_for("").rstrip("/")
    config = write_config([{"name": "first", "url": f"{base}/first.xml", "interval": "1h"},
                           {"name": "second", "url": f"{base}/second.xml"}])
    monitor = Monitor(load_config(config))
    daemon = Daemon(monitor)
    daemon.schedule()
    reloader = Reloader(monitor, lambda: load_config(config), schedule=daemon)
    try:
        yield config, monitor, reloader
    finally:
        reloader.stop()
        DAEMONS.unregister(daemon.name)
        monitor.close()


def test_start_is_recorded_once_per_config(running: tuple[Path, Monitor, Reloader]) -> None:
    config, monitor, reloader = running
    assert reloader.record_start() is True
    assert reloader.record_start() is False  # a restart with the same config records nothing
    [first] = list(monitor.log.read(types=["ConfigChanged"]))
    assert first.stream == "config:default"
    assert first.data["source"] == "start" and first.data["previous_version"] is None
    assert first.data["version"] == reloader.version and len(reloader.version) == 12
    # The first record has everything as added.
    assert first.data["diff"]["topics"] == {"added": [TOPIC]}
    assert [f["name"] for f in first.data["diff"]["feeds"]["added"]] == ["first", "second"]
    assert "feed added: first (" in "\n".join(first.data["summary"])
    assert first.data["config"]["feeds"][0]["name"] == "first"

    # A daemon started after the file changed records the difference from what the log holds.
    save(config, edit(config, lambda d: d["feeds"][1].update({"interval": "2h"})))
    with Monitor(load_config(config)) as restarted:
        assert Reloader(restarted, lambda: load_config(config)).record_start() is True
    second = list(monitor.log.read(types=["ConfigChanged"]))[-1]
    assert second.data["previous_version"] == first.data["version"]
    assert second.data["diff"] == {"feeds": {"changed": {"second": {"interval": {"old": "adaptive", "new": 7200.0}}}}}
    assert second.data["summary"] == ["feed changed: second: interval 'adaptive' → 7200"]


def test_a_valid_change_is_recorded_and_applied(running: tuple[Path, Monitor, Reloader],
                                                httpserver: HTTPServer) -> None:
    config, monitor, reloader = running
    reloader.record_start()
    old_version, old_tagger = reloader.version, monitor.tagger
    base = httpserver.url_for("").rstrip("/")

    def change(document: Any) -> None:
        document["topics"][0]["keywords"]["russia_side"].append("Rosneft")
        document["topics"][0]["keywords"]["phone_call"].remove("telephonic")
        document["feeds"][0]["interval"] = "30m"
        del document["feeds"][1]
        document["feeds"].append({"name": "third", "url": f"{base}/third.xml", "interval": "10m"})
        document["network"]["total_timeout"] = "9s"

    save(config, edit(config, change))
    assert reloader.reload("file") == "changed"

    [_, changed] = list(monitor.log.read(types=["ConfigChanged"]))
    data = changed.data
    assert data["source"] == "file" and data["previous_version"] == old_version
    assert data["version"] == reloader.version != old_version
    assert data["file"] == str(config.resolve())
    assert data["diff"]["topics"] == {"changed": {TOPIC: {"keywords": {
        "russia_side": {"added": ["Rosneft"]}, "phone_call": {"removed": ["telephonic"]}}}}}
    assert data["diff"]["feeds"] == {
        "added": [{"name": "third", "url": f"{base}/third.xml", "interval": 600.0, "fetch_full_text": True}],
        "removed": [{"name": "second", "url": f"{base}/second.xml", "interval": "adaptive", "fetch_full_text": True}],
        "changed": {"first": {"interval": {"old": 3600.0, "new": 1800.0}}},
    }
    assert data["diff"]["settings"] == {"network.total_timeout": {"old": 5.0, "new": 9.0}}
    assert data["diff"]["restart_required"] == ["network.total_timeout"]
    assert data["summary"] == [
        f"topic {TOPIC}: keyword group russia_side + 'Rosneft'",
        f"topic {TOPIC}: keyword group phone_call - 'telephonic'",
        f"feed added: third ({base}/third.xml)",
        f"feed removed: second ({base}/second.xml)",
        "feed changed: first: interval 3600 → 1800",
        "setting network.total_timeout: 5 → 9 (takes effect after a restart)",
    ]

    # Applied: the topics (a new tagger), the feeds' jobs; the network settings wait for a restart.
    assert "Rosneft" in monitor.config.topics[0].keywords["russia_side"]
    assert monitor.tagger is not old_tagger
    assert monitor.config.network.total_timeout == 5.0
    daemon = reloader.schedule
    assert isinstance(daemon, Daemon) and daemon.dispatcher is not None
    due = daemon.dispatcher.due_times()
    assert "second" not in due and "third" in due
    now = monitor.clock()
    assert abs((due["third"] - now).total_seconds()) < 5
    assert abs((due["first"] - now).total_seconds()) < 5

    # Saving again with only a comment added changes nothing.
    save(config, config.read_text(encoding="utf-8") + "# a note\n")
    assert reloader.reload("file") == "unchanged"
    assert len(list(monitor.log.read(types=["ConfigChanged"]))) == 2


def test_an_invalid_file_is_rejected_once_and_the_daemon_keeps_its_config(
        running: tuple[Path, Monitor, Reloader]) -> None:
    config, monitor, reloader = running
    reloader.record_start()
    good, version = monitor.config, reloader.version
    text = edit(config, lambda d: d["feeds"][1].update({"interval": "soon"}))
    save(config, text)
    assert reloader.reload("file") == "rejected"
    assert reloader.reload("sighup") == "rejected"  # the same bytes: recorded once
    [rejected] = list(monitor.log.read(types=["ConfigRejected"]))
    line = line_of_text(text, 'interval = "soon"')
    assert rejected.data["errors"] == [
        f"{config.resolve()}:{line}: feeds[1].interval: invalid duration 'soon' (expected e.g. \"30s\", \"15m\", "
        "\"1h30m\")"]
    assert rejected.data["running_version"] == version and rejected.data["file"] == str(config.resolve())
    assert len(rejected.data["file_hash"]) == 16
    assert monitor.config is good and reloader.version == version

    # Bad TOML is rejected with its line.
    save(config, text.replace('interval = "soon"', "interval = = 1"))
    assert reloader.reload("file") == "rejected"
    latest = list(monitor.log.read(types=["ConfigRejected"]))[-1]
    assert latest.data["errors"] == [f"{config}:{line}: invalid TOML: Invalid value (column 12)"]


def test_two_workers_record_one_change(running: tuple[Path, Monitor, Reloader]) -> None:
    config, monitor, reloader = running
    other = Reloader(Monitor(load_config(config)), lambda: load_config(config))
    try:
        reloader.record_start()
        other.record_start()
        add_keywords(config, TOPIC, "russia_side", ["Rosneft"])
        assert reloader.reload("file") == "changed"
        assert other.reload("file") == "changed"  # applied by both...
        assert "Rosneft" in other.monitor.config.topics[0].keywords["russia_side"]
        changes = list(monitor.log.read(types=["ConfigChanged"]))
        assert [c.data["source"] for c in changes] == ["start", "file"]  # ...recorded once
    finally:
        other.monitor.close()


def test_retag_on_change_retags_the_window(httpserver: HTTPServer, write_config: Callable[..., Path]) -> None:
    base = httpserver.url_for("").rstrip("/")
    today = dt.datetime.now(dt.UTC).date()
    old_day = (today - dt.timedelta(days=30)).isoformat()
    httpserver.expect_request("/feed.xml").respond_with_data(rss(base, [
        ("recent", "Modi holds talks with Rosneft executives", today.isoformat()),
        ("older", "Jaishankar meets Rosneft chief in New Delhi", old_day)]), content_type="application/rss+xml")
    for slug in ("recent", "older"):
        httpserver.expect_request(f"/articles/{slug}.html").respond_with_data("", status=404)
    config = write_config([{"name": "feed", "url": f"{base}/feed.xml", "interval": "1h"}])
    save(config, edit(config, lambda d: d["topics"][0].update({"retag_on_change": "7d"})))
    with Monitor(load_config(config)) as monitor:
        monitor.poll()
        assert list(monitor.log.read(types=["MentionTagged"])) == []  # "Rosneft" is no Russian side yet
        reloader = Reloader(monitor, lambda: load_config(config))
        reloader.record_start()
        add_keywords(config, TOPIC, "russia_side", ["Rosneft"])
        assert reloader.reload("file") == "changed"
        reloader.stop(timeout=60)  # joins the retag thread
        tagged = list(monitor.log.read(types=["MentionTagged"]))
    # Only the article published within the window is retagged.
    assert len(tagged) == 1 and tagged[0].data["decision"] == "mention"
    assert "Rosneft" in str(tagged[0].data["terms"])
    assert tagged[0].data["topic_version"] == monitor.config.topic_version(monitor.config.topics[0])


# --- the daemon as users run it -------------------------------------------------------------------------------


def test_running_daemon_applies_a_saved_config(httpserver: HTTPServer, write_config: Callable[..., Path],
                                               tmp_path: Path) -> None:
    base = httpserver.url_for("").rstrip("/")
    day = "2025-12-01"
    first_items = [("rains", "Monsoon rains arrive early", day)]

    def first_feed(_request: Request) -> Response:
        return Response(rss(base, first_items), content_type="application/rss+xml")

    httpserver.expect_request("/first.xml").respond_with_handler(first_feed)
    httpserver.expect_request("/second.xml").respond_with_data(rss(base, [
        ("talks", "Modi holds talks with Rosneft executives", day)]), content_type="application/rss+xml")
    for slug in ("rains", "talks", "visit"):
        httpserver.expect_request(f"/articles/{slug}.html").respond_with_data("", status=404)
    config = write_config([{"name": "first", "url": f"{base}/first.xml", "interval": "1s"}])
    url = load_config(config).storage.url
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWS_MONITOR_")}
    stderr_path = tmp_path / "daemon.log"
    with stderr_path.open("w") as stderr:
        daemon = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"], cwd=REPO,
                                  env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    try:
        assert wait_for(lambda: events(url, "ConfigChanged") and events(url, "FeedPolled"), 30), \
            stderr_path.read_text()
        [start] = events(url, "ConfigChanged")
        assert start.data["source"] == "start"
        time.sleep(0.5)  # the watcher is up well before this (it starts before the first poll)

        # One save: a keyword only the new articles match, and a feed.
        text = edit(config, lambda d: (d["topics"][0]["keywords"]["russia_side"].append("Rosneft"),
                                       d["feeds"].append({"name": "second", "url": f"{base}/second.xml",
                                                          "interval": "1h"})))
        save(config, text)
        saved = time.monotonic()
        changed = wait_for(lambda: events(url, "ConfigChanged")[1:], 5)
        assert changed, f"no ConfigChanged within 5 s\n{stderr_path.read_text()}"
        assert time.monotonic() - saved < 5
        first_items.append(("visit", "Jaishankar meets Rosneft chief in New Delhi", day))  # for its next poll
        [change] = changed
        assert change.data["source"] == "file" and change.data["previous_version"] == start.data["version"]
        assert change.data["summary"] == [f"topic {TOPIC}: keyword group russia_side + 'Rosneft'",
                                          f"feed added: second ({base}/second.xml)"]

        # The next polls tag with the new keyword: the new feed's article and the first feed's new one.
        def tagged() -> list[RecordedEvent]:
            return [e for e in events(url, "MentionTagged") if "Rosneft" in str(e.data["terms"])]

        mentions = wait_for(lambda: len(tagged()) == 2 and tagged(), 15)
        assert mentions, stderr_path.read_text()
        assert all(m.position > change.position and m.data["decision"] == "mention" for m in mentions)
        # (A poll's own event may follow its entries by a group commit: up to half a second in the daemon.)
        assert wait_for(lambda: {e.data["feed"] for e in events(url, "FeedPolled")
                                 if e.position > change.position} >= {"first", "second"}, 5)

        # An invalid save is rejected, and polling goes on with the last good config.
        bad = text.replace('interval = "1h"', 'interval = "soon"')
        config.write_text(bad, encoding="utf-8")  # in place this time
        rejected = wait_for(lambda: events(url, "ConfigRejected"), 5)
        assert rejected, stderr_path.read_text()
        line = line_of_text(bad, 'interval = "soon"')
        assert rejected[0].data["errors"] == [
            f"{config.resolve()}:{line}: feeds[1].interval: invalid duration 'soon' (expected e.g. \"30s\", "
            "\"15m\", \"1h30m\")"]
        assert rejected[0].data["running_version"] == change.data["version"]
        assert wait_for(lambda: [e for e in events(url, "FeedPolled") if e.position > rejected[0].position], 10)
        assert daemon.poll() is None
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    log_text = stderr_path.read_text()
    assert daemon.returncode == 0, log_text
    assert "Traceback" not in log_text and "rejected" in log_text


@pytest.mark.parametrize("empty", ["", "  \n\t\n", "# all commented out\n\n# feeds = []\n"])
def test_an_empty_file_is_rejected_and_every_feed_and_topic_stays(
        running: tuple[Path, Monitor, Reloader], empty: str) -> None:
    config, monitor, reloader = running
    reloader.record_start()
    good, version = monitor.config, reloader.version
    assert good.feeds and good.topics
    save(config, empty)
    assert reloader.reload("file") == "rejected"
    [rejected] = list(monitor.log.read(types=["ConfigRejected"]))
    assert rejected.data["errors"] == [f"{config}: the config file is empty (truncated, or caught while being "
                                       "written); the running config stays"]
    assert monitor.config is good and reloader.version == version


def test_extract_settings_wait_for_a_restart(running: tuple[Path, Monitor, Reloader]) -> None:
    """The extraction workers are started with the process: a new [extract] timeout is recorded and logged as
    taking effect after a restart, and the running one stays."""
    config, monitor, reloader = running
    reloader.record_start()
    before = monitor.config.extract.timeout

    def change(document: Any) -> None:
        document.setdefault("extract", {})["timeout"] = "3s"

    save(config, edit(config, change))
    assert reloader.reload("file") == "changed"
    [_, changed] = list(monitor.log.read(types=["ConfigChanged"]))
    assert changed.data["diff"]["restart_required"] == ["extract.timeout"]
    assert monitor.config.extract.timeout == before != 3.0


def test_a_save_made_while_the_process_started_is_applied(running: tuple[Path, Monitor, Reloader],
                                                          httpserver: HTTPServer) -> None:
    """The config is read at start and the reloader looks at the file later (a worker catches its views up in
    between). A save in that gap must not pass for the config already loaded: the reloader applies it once it
    starts, without waiting for another save."""
    config, monitor, reloader = running
    reloader.stop()  # the fixture's reloader looked at the file before the save; this one looks after it
    save(config, edit(config, lambda document: document["feeds"].__delitem__(1)))
    late = Reloader(monitor, lambda: load_config(config), schedule=reloader.schedule)
    assert late.record_start()  # as start_reloader does: the config in force, the old one
    late.start()
    try:
        assert wait_for(lambda: [f.name for f in monitor.config.feeds] == ["first"], 10), monitor.config.feeds
        [changed] = [e for e in monitor.log.read(types=["ConfigChanged"]) if e.data["source"] == "file"]
        assert changed.data["summary"] == [f"feed removed: second ({httpserver.url_for('/second.xml')})"]
    finally:
        late.stop()


def test_a_reloader_that_starts_on_the_loaded_file_changes_nothing(running: tuple[Path, Monitor, Reloader]) -> None:
    _config, monitor, reloader = running
    before = list(monitor.config.feeds)
    reloader.start()
    time.sleep(1.5)  # past the start-up comparison and one look at the file
    assert monitor.config.feeds == before
    assert [e.data["source"] for e in monitor.log.read(types=["ConfigChanged", "ConfigRejected"])] == []
