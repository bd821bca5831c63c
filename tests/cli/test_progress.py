"""Long work shows progress on stderr when it is a terminal, with counts (poll: feeds polled of all; import:
events; retag: articles tagged again), and nothing when it is not (a pipe, cron, a log file)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from rich.console import Console

from monitor.cli.progress import progress
from tests.builders import cli, rss

ARTICLES = [("a", "Modi and Putin hold talks at the annual summit", "2025-12-05"),
            ("b", "Putin arrives in New Delhi for the annual summit with Modi", "2025-12-04")]


def test_a_terminal_gets_a_bar_with_counts_and_anything_else_nothing() -> None:
    terminal = Console(file=io.StringIO(), force_terminal=True, width=100)
    with progress("polling feeds", 3, console=terminal) as advance:
        for _ in range(3):
            advance()
    assert "polling feeds" in terminal.file.getvalue() and "3/3" in terminal.file.getvalue()
    counting = Console(file=io.StringIO(), force_terminal=True, width=100)
    with progress("importing events", console=counting) as advance:  # no total: a count
        advance(1000)
        advance(234)
    assert "importing events" in counting.file.getvalue() and "1,234" in counting.file.getvalue()
    piped = Console(file=io.StringIO(), force_terminal=False, width=100)
    with progress("polling feeds", 3, console=piped) as advance:
        advance()
    assert piped.file.getvalue() == ""


@pytest.fixture
def two_feeds(httpserver: HTTPServer, write_config: Callable[..., Path]) -> Path:
    base = httpserver.url_for("").rstrip("/")
    for name, items in (("one", ARTICLES[:1]), ("two", ARTICLES[1:])):
        httpserver.expect_request(f"/{name}.xml").respond_with_data(rss(base, items),
                                                                    content_type="application/rss+xml")
    for slug, title, _ in ARTICLES:
        httpserver.expect_request(f"/articles/{slug}.html").respond_with_data(
            f"<html><body><article><h1>{title}</h1><p>{title}, officials said on 5 December.</p></article>"
            "</body></html>", content_type="text/html")
    return write_config([{"name": "one", "url": f"{base}/one.xml"}, {"name": "two", "url": f"{base}/two.xml"}])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_not_a_terminal_no_progress(two_feeds: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = cli(capsys, "poll", config=two_feeds)
    ours = [line for line in err.splitlines() if "[werkzeug]" not in line]  # the test's HTTP server logs
    assert code == 0 and [line.split(":")[0] for line in ours] == ["one", "two"]  # the results only
    code, out, err = cli(capsys, "export", config=two_feeds)
    (tmp_path / "log.jsonl").write_text(out, encoding="utf-8")
    code, _, err = cli(capsys, "import", str(tmp_path / "log.jsonl"), config=two_feeds)
    assert code == 0 and err == ""
    code, _, err = cli(capsys, "retag", "--dry-run", config=two_feeds)
    assert code == 0 and err == ""
    code, _, err = cli(capsys, "rebuild", config=two_feeds)
    assert code == 0 and err == ""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_terminal_sees_the_counts(two_feeds: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = cli(capsys, "poll", config=two_feeds)
    code, out, _ = cli(capsys, "export", config=two_feeds)
    events = len(out.splitlines())
    (tmp_path / "log.jsonl").write_text(out, encoding="utf-8")
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich takes stderr for a terminal
    monkeypatch.setenv("COLUMNS", "100")
    code, _, err = cli(capsys, "poll", config=two_feeds)
    assert code == 0 and "polling feeds" in err and "2/2" in err
    code, _, err = cli(capsys, "import", str(tmp_path / "log.jsonl"), config=two_feeds)
    assert code == 0 and "importing events" in err and f"{events:,}" in err
    code, _, err = cli(capsys, "retag", "--dry-run", config=two_feeds)
    assert code == 0 and "tagging stored articles again" in err and "2" in err.split("again", 1)[1][:60]
    code, _, err = cli(capsys, "rebuild", config=two_feeds)
    assert code == 0 and "rebuilding every projection" in err
