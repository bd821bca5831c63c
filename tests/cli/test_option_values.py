"""Option values are checked the same way in every command: a value outside an option's choices is a usage
error (exit code 2) naming the option, before anything runs; a value inside them still works. And input
files are read as the library expects them: ``import`` reads bytes, so a line that is not UTF-8 is named."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import typer.main

from monitor.cli import app, main
from monitor.config import load_config
from monitor.events import catalogue as ev
from monitor.views.log import open_log, projections

URL = "https://news.example.org/modi-putin"
ARTICLE = ev.article_id(URL)
PUBLISHED = dt.datetime(2025, 12, 4, 9, 0, tzinfo=dt.UTC)

# Every command with a --format, and a value it accepts.
FORMATS = [
    (["digest"], "json"),
    (["timeline"], "json"),
    (["events"], "jsonl"),
    (["retag", "--dry-run"], "json"),
    (["explain", ARTICLE], "json"),
    (["feeds", "status"], "json"),
    (["feeds", "list"], "json"),
    (["keywords", "list"], "json"),
    (["config", "check"], "json"),
    (["tune", "--topic=india-russia-summit"], "json"),
    (["workers", "status"], "json"),
]


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    """A config whose log holds one extracted article (for explain)."""
    path = write_config([{"name": "feed-a", "url": "https://news.example.org/rss.xml"}])
    log = open_log(load_config(path))
    try:
        text = "Prime Minister Narendra Modi met President Vladimir Putin in New Delhi."
        log.append([
            ev.article_discovered(ARTICLE, PUBLISHED, {
                "feed": "feed-a", "url": URL, "canonical_url": URL, "entry_id": "modi-putin",
                "title": "Modi meets Putin", "published_at": PUBLISHED.isoformat()}),
            ev.article_extracted(ARTICLE, PUBLISHED, {
                "url": URL, "title": "Modi meets Putin", "text": text, "text_hash": "h-modi-putin",
                "text_source": "page", "word_count": len(text.split()), "published_at": PUBLISHED.isoformat()}),
        ])
        projections(log).catch_up()
    finally:
        log.close()
    return path


def _commands_with(option: str) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()

    def walk(command: object, path: tuple[str, ...]) -> None:
        if any(option in getattr(param, "opts", ()) for param in getattr(command, "params", [])):
            found.add(path)
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, (*path, name))
    walk(typer.main.get_command(app), ())
    return found


def test_every_command_with_a_format_is_checked_here() -> None:
    listed = {tuple(word for word in command if not word.startswith("-") and word != ARTICLE)
              for command, _ in FORMATS}
    assert _commands_with("--format") == listed


@pytest.mark.parametrize("command, good", FORMATS, ids=[" ".join(c[:2]) for c, _ in FORMATS])
def test_a_bad_format_is_a_usage_error_naming_the_option(command: list[str], good: str, config: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    before = _positions(config)
    assert main(["--config", str(config), *command, "--format", "pdf"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == ""
    assert lines[0].startswith("news-monitor: error: Invalid value for --format: unknown format 'pdf' (")
    assert repr(good)[1:-1] in lines[0]  # the choices are named
    assert _positions(config) == before  # refused before it ran: nothing recorded


@pytest.mark.parametrize("command, good", FORMATS, ids=[" ".join(c[:2]) for c, _ in FORMATS])
def test_a_good_format_still_works(command: list[str], good: str, config: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    if command[0] == "workers" and load_config(config).storage.url.startswith("sqlite"):
        assert main(["--config", str(config), *command, "--format", good]) == 1  # no workers on SQLite
        assert "workers need PostgreSQL" in capsys.readouterr().err
        return
    assert main(["--config", str(config), *command, "--format", good]) == 0
    out = capsys.readouterr().out
    if good == "jsonl":
        assert [json.loads(line)["type"] for line in out.splitlines()][:2] == [ev.ARTICLE_DISCOVERED,
                                                                                 ev.ARTICLE_EXTRACTED]
    else:
        assert json.loads(out) is not None


def test_a_bad_format_is_refused_before_the_config_is_read(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A usage error, not a config error: the option is checked first, as any bad argument is."""
    assert main(["--config", str(tmp_path / "missing.toml"), "feeds", "list", "--format", "yaml"]) == 2
    assert "unknown format 'yaml' (choose text or json)" in capsys.readouterr().err


def _positions(config: Path) -> int:
    log = open_log(load_config(config))
    try:
        return log.last_position()
    finally:
        log.close()


def test_import_names_a_line_that_is_not_utf8_and_writes_nothing(config: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["--config", str(config), "export"]) == 0
    first, second = capsys.readouterr().out.splitlines(keepends=True)
    dump = tmp_path / "log.jsonl"
    bad = second.encode().replace(b"Modi meets Putin", b"Modi meets \xff Putin")
    dump.write_bytes(first.encode() + bad)
    target = ["--config", str(config), "--database-url", f"sqlite:///{tmp_path / 'target.sqlite3'}"]

    assert main([*target, "import", str(dump)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    byte = bad.index(b"\xff") + 1
    assert captured.err.splitlines() == [f"news-monitor: error: {dump}:2: not UTF-8 (byte {byte} of the line)"]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(dump.read_bytes()), encoding="utf-8"))
    assert main([*target, "import", "-"]) == 1
    assert capsys.readouterr().err.startswith("news-monitor: error: stdin:2: not UTF-8 (byte ")

    assert main([*target, "events"]) == 0
    assert capsys.readouterr().out == ""  # nothing written, not even the good first line
