"""``news-monitor timeline``: the seeds' meetings as text, JSON (the issue's fields), HTML and iCalendar read back
with ``icalendar``; its filters and its bad values."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from icalendar import Calendar

from monitor.config import load_config
from monitor.views.log import open_log
from tests.builders import cli, one_line
from tests.timelines import append_report, seed_reports

FIELDS = {"id", "topic", "kind", "status", "start", "end", "place", "participants", "articles", "outlets",
          "first_reported", "last_reported", "evidence"}


@pytest.fixture
def seeded_config(write_config: Callable[..., Path], shared_dir: Path) -> Path:
    config = write_config([{"name": "seed-0", "url": "https://outlet0.example/feed.xml"}])
    log = open_log(load_config(config))
    try:
        for report in seed_reports(shared_dir):
            append_report(log, report)
    finally:
        log.close()
    return config


def test_json_has_the_issues_fields(seeded_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "timeline", "--format", "json", config=seeded_config)
    assert code == 0, err
    events = json.loads(out)["events"]
    assert [(e["start"], e["status"]) for e in events] == [
        ("2025-12-05", "upcoming"), ("2025-11-18", "held"), ("2025-09-01", "held"), ("2025-08-22", "held")]
    for event in events:
        assert FIELDS <= set(event)
        assert {"article_id", "url", "sentence", "date_text"} <= set(event["evidence"][0])
    tianjin = events[2]
    assert (tianjin["kind"], tianjin["place"], tianjin["participants"], tianjin["articles"]) == (
        "bilateral meeting", "Tianjin, China", ["Narendra Modi", "Vladimir Putin"], 1)
    assert tianjin["topic"] == "india-russia-summit" and tianjin["outlets"] == ["outlet0.example"]
    assert tianjin["first_reported"] == "2025-09-01T06:00:00+00:00"


def test_filters(seeded_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def starts(*args: str) -> list[str]:
        code, out, err = cli(capsys, "timeline", "--format", "json", *args, config=seeded_config)
        assert code == 0, err
        return [e["start"] for e in json.loads(out)["events"]]

    assert starts("--status", "upcoming") == ["2025-12-05"]
    assert starts("--status", "held") == ["2025-11-18", "2025-09-01", "2025-08-22"]
    assert starts("--from", "2025-11-01") == ["2025-12-05", "2025-11-18"]
    assert starts("--to", "2025-10-01") == ["2025-09-01", "2025-08-22"]
    assert starts("--from", "2025-08-23", "--to", "2025-10-01") == ["2025-09-01"]
    assert starts("--topic", "india-russia-summit", "--from", "2025-11-18", "--to", "2025-11-18") == ["2025-11-18"]


def test_text_is_readable_and_fits_100_columns(seeded_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "timeline", config=seeded_config)
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "■ 1 Sep 2025 · bilateral meeting · Narendra Modi, Vladimir Putin · Tianjin, China" in lines
    assert "  held · 1 article from outlet0.example" in lines
    assert any(line.startswith("■ 18 Nov 2025 · ") and "Moscow, Russia" in line for line in lines)
    assert lines.index(next(ln for ln in lines if ln.startswith("■ 5 Dec 2025"))) < lines.index(
        next(ln for ln in lines if ln.startswith("■ 1 Sep 2025")))


def test_ics_reads_back_with_icalendar(seeded_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "timeline", "--format", "ics", config=seeded_config)
    assert code == 0, err
    calendar = Calendar.from_ical(out)
    events = {e.decoded("dtstart"): e for e in calendar.walk("VEVENT")}
    assert set(events) == {dt.date(2025, 8, 22), dt.date(2025, 9, 1), dt.date(2025, 11, 18), dt.date(2025, 12, 5)}
    summit = events[dt.date(2025, 12, 5)]
    assert summit.decoded("dtend") == dt.date(2025, 12, 6)  # all day: DTEND is the day after
    assert str(summit["summary"]) == "Summit: Narendra Modi and Vladimir Putin"
    assert str(summit["status"]) == "TENTATIVE"
    tianjin = events[dt.date(2025, 9, 1)]
    assert (str(tianjin["location"]), str(tianjin["status"])) == ("Tianjin, China", "CONFIRMED")
    assert "today,1 September" in str(tianjin["description"])
    # The same event keeps its UID from one run to the next: a calendar updates it instead of adding another.
    _, again, _ = cli(capsys, "timeline", "--format", "ics", config=seeded_config)
    assert {str(e["uid"]) for e in Calendar.from_ical(again).walk("VEVENT")} == {
        str(e["uid"]) for e in calendar.walk("VEVENT")}


def test_html_is_one_page_with_every_event_folded(seeded_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "timeline", "--format", "html", config=seeded_config)
    assert code == 0, err
    assert out.startswith("<!DOCTYPE html>") and "<script" not in out
    assert out.count('<details class="tl-event') == 4
    assert "1 Sep 2025 · bilateral meeting · Narendra Modi, Vladimir Putin · Tianjin, China" in out


def test_bad_values_exit_2_or_1_in_one_line(seeded_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "timeline", "--format", "pdf", config=seeded_config)
    assert code == 2 and "unknown format 'pdf'" in one_line(err)
    code, _, err = cli(capsys, "timeline", "--status", "soon", config=seeded_config)
    assert code == 2 and "unknown status 'soon'" in one_line(err)
    code, _, err = cli(capsys, "timeline", "--from", "2025-12-01", "--to", "2025-11-01", config=seeded_config)
    assert code == 1 and "ends (2025-11-01) before it starts" in one_line(err)


def test_a_typo_in_topic_or_feed_is_a_usage_error_with_a_did_you_mean(seeded_config: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "digest", "--topic", "india-russia-sumit", config=seeded_config)
    assert (code, out) == (2, "")
    assert one_line(err).endswith("Invalid value for --topic: no topic 'india-russia-sumit' (did you mean "
                                  "india-russia-summit?) (see news-monitor --help)")
    code, _, err = cli(capsys, "digest", "--feed", "nosuch", config=seeded_config)
    assert code == 2 and "Invalid value for --feed: no feed 'nosuch' (known: seed-0, seed-1)" in one_line(err)
    code, _, err = cli(capsys, "digest", "--feed", "seed-O", config=seeded_config)
    assert code == 2 and "(did you mean seed-" in one_line(err)
    code, _, err = cli(capsys, "timeline", "--topic", "nosuch", config=seeded_config)
    assert code == 2 and "no topic 'nosuch'" in one_line(err)
    # A feed known only to the log (no longer configured) still narrows the digest.
    code, out, err = cli(capsys, "digest", "--feed", "seed-1", "--format", "json", "--status", "all",
                         config=seeded_config)
    assert code == 0, err
    assert [i["feed"] for i in json.loads(out)["items"]] == ["seed-1"]
