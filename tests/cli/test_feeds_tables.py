"""``feeds status`` and ``feeds list`` fit a 100-column terminal: one line a feed, the columns aligned, a long
name, URL or error cut with "…" (never wrapped, never broken over lines), the short values always whole."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.cli.tables import GAP, Column, fit_widths, relative
from monitor.config import load_config
from monitor.events import catalogue as ev
from monitor.views.log import open_log
from tests.builders import cli

LONG_NAME = "a-very-long-feed-name-imported-from-an-opml-list-of-world-news"
LONG_URL = "https://www.example.org/a/very/long/path/that/goes/on/and/on/feed.xml?utm_source=newsletter&x=1"
LONG_ERROR = "the server answered 503 Service Unavailable " * 4
FEEDS = [{"name": "tass", "url": "https://tass.example/rss.xml"},
         {"name": LONG_NAME, "url": LONG_URL},
         {"name": "wire", "url": "https://wire.example/feed.atom", "interval": "10m"}]


def _columns(lines: list[str], headers: list[str]) -> list[int]:
    """Where each header starts on the first line."""
    return [lines[0].index(header) for header in headers]


def _check_fits(out: str, headers: list[str], names: list[str]) -> list[str]:
    lines = out.rstrip("\n").splitlines()
    assert all(len(line) <= 100 for line in lines), [len(line) for line in lines]
    starts = _columns(lines, headers)
    assert starts == sorted(starts)
    rows = lines[1:1 + len(names)]
    for row, name in zip(rows, names, strict=True):
        cell = row[:starts[1]].rstrip()
        # The name is whole, or its start with an ellipsis: never continued on another line.
        assert cell == name or (cell.endswith("…") and name.startswith(cell[:-1])), (cell, name)
        for start in starts[1:]:
            assert row[start - 1] == " "  # every cell starts in its header's column: aligned
    assert not any(name[-10:] in line for line in lines[1 + len(names):] for name in names)  # nothing wrapped
    return rows


def test_feeds_list_fits_100_columns(write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    config = write_config(FEEDS)
    code, out, _ = cli(capsys, "feeds", "list", config=config)
    assert code == 0
    rows = _check_fits(out, ["feed", "url", "every", "text"], ["tass", LONG_NAME, "wire"])
    assert rows[1].split()[0] != LONG_NAME  # too long for its column: cut, with the ellipsis checked above
    assert "https://tass.example/rss.xml" in rows[0] and "600s" in rows[2] and "adaptive" in rows[1]
    assert "…" in rows[1].split()[1]  # the long URL is cut, with an ellipsis


def test_feeds_status_fits_100_columns_with_long_errors(write_config: Callable[..., Path],
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    config = write_config(FEEDS)
    log = open_log(load_config(config), migrate=True)
    at = dt.datetime(2025, 12, 1, 10, 0, tzinfo=dt.UTC)
    try:
        log.append([ev.feed_polled("tass", "1", at, {"url": FEEDS[0]["url"], "status": "ok"}),
                    ev.feed_failed(LONG_NAME, "1", at, {"url": LONG_URL, "reason": "http_503_service_unavailable",
                                                        "message": LONG_ERROR, "http_status": 503}),
                    ev.feed_polled("wire", "1", at, {"url": FEEDS[2]["url"], "status": "not_modified"})])
    finally:
        log.close()
    code, out, _ = cli(capsys, "feeds", "status", config=config)
    assert code == 0
    headers = ["feed", "status", "last ok", "last error", "fails", "pages failed", "next poll"]
    rows = _check_fits(out, headers, [f["name"] for f in FEEDS])  # in the config's order
    starts = _columns(out.splitlines(), headers)
    failing = rows[1]
    assert failing[starts[1]:].split()[0] == "failing"  # short values whole
    assert re.match(r"\d+d ago http_503", failing[starts[3]:starts[4]].strip())
    assert "not_modified" in rows[2] and re.match(r"\d+d ago$", rows[0][starts[2]:starts[3]].strip())
    assert out.splitlines()[-1].startswith("daemon: ")


def test_fit_widths_cuts_the_lowest_priority_first_and_keeps_fixed_columns() -> None:
    columns = [Column("name", minimum=8, comfortable=20, priority=2), Column("status"),
               Column("url", minimum=8, comfortable=30)]
    rows = [("n" * 40, "not_modified", "u" * 60)]
    assert fit_widths(columns, rows, 200) == [40, 12, 60]  # room for all: nothing cut
    # 100: the URL gives up first, down to its comfortable width, then the name down to its own.
    # 100: 16 too many; the URL (the lower priority) gives them all, down to no less than its comfortable 30.
    assert fit_widths(columns, rows, 100) == [40, 12, 60 - (40 + 12 + 60 + 2 * GAP - 100)]
    # 40: the URL to 30, the name to 20, then the URL to its minimum 8, then the name as far as needed.
    assert fit_widths(columns, rows, 40) == [40 - 2 * GAP - 12 - 8, 12, 8]
    assert fit_widths(columns, rows, 10) == [8, 12, 8]  # too narrow for the minimums: they hold
    assert fit_widths([Column("pages failed", minimum=4), Column("x" * 90)], [("2 (http_404 ×2)", "")], 80)[0] == 12


@pytest.mark.parametrize(("seconds", "expected"), [
    (0, "now"), (-59, "now"), (-60, "1m ago"), (-3 * 3600 - 5, "3h ago"), (2 * 86400, "in 2d"), (14 * 60, "in 14m")])
def test_relative_times(seconds: int, expected: str) -> None:
    now = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
    assert relative(now + dt.timedelta(seconds=seconds), now) == expected
    assert relative(None, now) == "-"
