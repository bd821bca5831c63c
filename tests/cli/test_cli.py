"""The command line's contract: names, JSON shapes, exit codes, and one-line errors."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.cli import main
from storage.eventlog import EventLog, NewEvent
from tests.builders import one_line

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real entry point, in a child process, as a user runs it."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEWS_MONITOR_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "monitor", *args], input=stdin, capture_output=True, text=True,
                          cwd=REPO, env=full_env, timeout=120)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """A child that failed, with its one-line error."""
    assert result.returncode != 0
    return one_line(result.stderr, prefix="news-monitor: ")


def test_help_and_version() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("run", "poll", "digest", "review", "events", "tag", "demo", "rebuild", "export", "import", "db",
                    "retag", "explain", "feeds"):
        assert command in result.stdout
    assert run_cli("--version").stdout.startswith("news-monitor ")


@pytest.mark.parametrize("args, expected", [
    (["--config", "/nonexistent/monitor.toml", "poll"], "/nonexistent/monitor.toml: config file not found"),
    (["poll", "--bogus"], "no such option"),
    (["frobnicate"], "No such command"),
    (["digest", "--format", "pdf"], "--format: unknown format 'pdf'"),
    (["digest", "--since", "yesterday"], "--since: invalid ISO date 'yesterday'"),
    (["poll", "--feed", "no-such-feed"], "no feed named 'no-such-feed'"),
])
def test_bad_input_is_one_clear_line(args: list[str], expected: str, tmp_path: Path) -> None:
    env = {"NEWS_MONITOR_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"}
    line = one_line_error(run_cli(*args, env=env))
    assert expected.lower() in line.lower()


def test_bad_config_names_file_key_and_problem(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text('[[feeds]]\nname = "x"\nurl = "http://example.org/feed"\ninterval = "often"\n')
    line = one_line_error(run_cli("--config", str(config), "poll"))
    assert str(config) in line and "feeds[0].interval" in line and "invalid duration 'often'" in line


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    line = one_line_error(run_cli("--database-url", "postgresql+psycopg://nobody@127.0.0.1:1/none", "events"))
    assert "cannot open the event log" in line


def test_database_url_from_env_overrides_config(tmp_path: Path) -> None:
    db = tmp_path / "env.sqlite3"
    result = run_cli("events", env={"NEWS_MONITOR_DATABASE_URL": f"sqlite:///{db}"})
    assert result.returncode == 0 and result.stdout == ""
    assert db.exists()


def test_tag_reads_and_writes_json_lines(tmp_path: Path) -> None:
    items = [
        {"id": "a", "title": "Modi and Putin hold talks at the annual India-Russia summit",
         "text": "Prime Minister Narendra Modi met President Vladimir Putin in New Delhi on December 5.",
         "date": "2025-12-05"},
        {"id": "b", "title": "Putin and Trump meet in Alaska", "text": "The two presidents held a summit."},
        {"id": "c", "title": "Medvedev wins at Indian Wells", "text": "The Russian tennis player won in March."},
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    result = run_cli("tag", "--input", str(source))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["a", "b", "c"]
    topics = [line["topics"]["india-russia-summit"] for line in lines]
    for topic in topics:
        assert {"mention", "score", "sentences", "terms"} <= set(topic)
        assert isinstance(topic["score"], float)
    assert [t["mention"] for t in topics] == [True, False, False]
    assert "Modi" in topics[0]["terms"] and "Putin" in topics[0]["terms"]
    assert any("December 5" in s for s in topics[0]["sentences"])
    assert {"date": "2025-12-05"}.items() <= next(d for d in topics[0]["dates"] if d["text"] == "December 5").items()
    from_stdin = run_cli("tag", stdin=source.read_text())
    assert from_stdin.stdout == result.stdout


def test_tag_rejects_a_bad_line_clearly(tmp_path: Path) -> None:
    line = one_line_error(run_cli("tag", stdin='{"id": "1", "title": "ok", "text": "ok"}\nnot json\n'))
    assert "input line 2: not valid JSON" in line


def test_events_prints_the_raw_log(write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config([])
    assert main(["--config", str(config), "review"]) == 0
    assert main(["--config", str(config), "review"]) == 0  # nothing new: the same key, recorded once
    capsys.readouterr()
    assert main(["--config", str(config), "events", "--format", "jsonl", "--type", "DigestReviewed"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 1
    assert {"position", "stream", "version", "type", "occurred_at", "recorded_at", "data"} <= set(lines[0])
    assert lines[0]["type"] == "DigestReviewed" and lines[0]["stream"] == "review:default"
    assert main(["--config", str(config), "events", "--after", str(lines[0]["position"])]) == 0
    assert capsys.readouterr().out == ""


def test_events_follow_tails_new_events_until_interrupted(write_config: Callable[..., Path],
                                                          database_url: str) -> None:
    """`events --follow` starts at the end of the log, prints each new event once as it is recorded, and
    stops cleanly on SIGINT."""
    config = write_config([])
    assert main(["--config", str(config), "review"]) == 0  # an old event: not printed by --follow
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWS_MONITOR_")}
    follower = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "events", "--follow",
                                 "--interval", "0.05"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    try:
        assert follower.stderr is not None
        assert follower.stderr.readline().startswith("following the log after position ")
        log = EventLog.open(database_url, migrate=True)
        try:
            for i in range(3):
                log.append([NewEvent(f"s-{i}", "Thing", f"follow-{i}", {"n": i}, dt.datetime.now(dt.UTC))])
            assert follower.stdout is not None
            lines = [json.loads(follower.stdout.readline()) for _ in range(3)]
        finally:
            log.close()
        assert [line["key"] for line in lines] == ["follow-0", "follow-1", "follow-2"]
        assert [line["position"] for line in lines] == sorted(line["position"] for line in lines)
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=30)
    finally:
        follower.kill()
    assert follower.returncode == 130 and "Traceback" not in err  # Ctrl-C ends it like tail -f: quietly
    assert lines[0]["position"] > 1  # it started at the end of the log: the earlier review was not printed


def test_console_script_and_module_are_the_same_program() -> None:
    script = Path(sys.executable).parent / "news-monitor"
    if not script.exists():
        pytest.fail("the news-monitor console script is not installed in this environment")
    by_script = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert by_script.returncode == 0 and by_script.stdout == run_cli("--help").stdout
