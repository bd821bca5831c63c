"""Tests for monitor.config: the shipped config, value parsing, and one clear line per broken config."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import config_from_dict, load_config, parse_duration, parse_size
from monitor.errors import ConfigError
from tests.conftest import SHIPPED_CONFIG

FEED = '[[feeds]]\nname = "a"\nurl = "https://example.com/feed.xml"\n'
TOPIC = """
[[topics]]
id = "t"
title = "T"
{extra}
[topics.keywords]
india = ["India", "Modi"]
russia = ["Russia", "Putin"]
{groups}
"""


def topic(extra: str = "", groups: str = "") -> str:
    return TOPIC.format(extra=extra, groups=groups)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message, f"not one line: {message!r}"
    return message


def strip_prefix(message: str, path: Path) -> str:
    """The message without its "<file>: " prefix (the file is named as given or resolved)."""
    for prefix in (f"{path.resolve()}: ", f"{path}: "):
        if message.startswith(prefix):
            return message[len(prefix):]
    raise AssertionError(f"message does not start with the file name {path}: {message!r}")


# --- the shipped config ----------------------------------------------------------------------------


def test_shipped_config_loads() -> None:
    config = load_config(SHIPPED_CONFIG)
    assert len(config.feeds) >= 6
    names = [feed.name for feed in config.feeds]
    assert len(set(names)) == len(names)
    for feed in config.feeds:
        assert feed.name.strip()
        assert feed.url.startswith(("http://", "https://"))
        assert feed.interval == "adaptive"  # the shipped feeds leave their schedule to the policy
    assert config.source == SHIPPED_CONFIG.resolve()
    assert config.scheduler.max_per_host == 2
    assert 0 < config.scheduler.min_interval < config.scheduler.default_interval < config.scheduler.max_interval
    assert config.network.max_body_size == 10_000_000
    assert config.network.connect_timeout == 10
    assert config.scheduler.jitter == 30


def test_shipped_topic_and_reference_documents() -> None:
    config = load_config(SHIPPED_CONFIG)
    assert [t.id for t in config.topics] == ["india-russia-summit"]
    summit = config.topics[0]
    assert set(summit.keywords) >= {"india_side", "russia_side", "meeting", "phone_call"}
    paths = config.reference_paths(summit)
    assert sorted(p.name for p in paths) == ["annual-summit-2025-preparations.md", "modi-putin-sco-tianjin-2025.md"]
    assert all(p.is_file() and p.parent == SHIPPED_CONFIG.parent / "reference" for p in paths)
    version = config.topic_version(summit)
    assert len(version) == 12 and version == load_config(SHIPPED_CONFIG).topic_version(summit)


def test_feed_lookup_suggests_a_name() -> None:
    config = load_config(SHIPPED_CONFIG)
    assert config.feed("tass-world").url == "https://tass.com/rss/v2.xml"
    with pytest.raises(ConfigError, match=r"no feed named 'tass-wrld' \(did you mean 'tass-world'\?\)"):
        config.feed("tass-wrld")


# --- durations and sizes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [
    ("15m", 900), ("1h30m", 5400), (45, 45), (2.5, 2.5), ("45s", 45), ("2d", 172800), ("1w", 604800),
    ("500ms", 0.5), ("1h 30m", 5400), (" 10s ", 10), ("1H", 3600),
])
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "", "15", "15 minutes", "m15", "1h30", 0, "0s", -5, "-5m", True, None])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize(("value", "size"), [
    ("10MB", 10_000_000), ("512KiB", 524_288), ("512 KiB", 524_288), ("1MiB", 1_048_576), ("2kb", 2000),
    ("1GB", 10**9), ("100", 100), (4096, 4096),
])
def test_sizes(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["lots", "10 MBs", "-1MB", 0, True, 1.5])
def test_bad_sizes(value: object) -> None:
    with pytest.raises(ValueError):
        parse_size(value)


def test_durations_and_sizes_in_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[network]\nread_timeout = "1m30s"\nmax_body_size = "512KiB"\n'
                           '[[feeds]]\nname = " spaced "\nurl = "https://example.com/a"\ninterval = 45\n')
    config = load_config(path)
    assert config.network.read_timeout == 90
    assert config.network.max_body_size == 524_288
    assert config.feeds[0].interval == 45
    assert config.feeds[0].name == "spaced"
    assert config.feeds[0].fetch_full_text is True


# --- broken configs: one line naming the file, the key path and the problem ---------------------------

BROKEN = [
    ("unknown top-level key", "[netwrk]\nmax_redirects = 3\n",
     "netwrk: unknown key 'netwrk' (did you mean 'network'?)"),
    ("unknown key in a section", "[network]\nconect_timeout = \"5s\"\n",
     "network.conect_timeout: unknown key 'conect_timeout' (did you mean 'connect_timeout'?)"),
    ("unknown key in a feed", FEED + 'intervall = "15m"\n',
     "feeds[0].intervall: unknown key 'intervall' (did you mean 'interval'?)"),
    ("wrong type", '[network]\nmax_redirects = "many"\n',
     "network.max_redirects: Input should be a valid integer, unable to parse string as an integer"),
    ("out of range", "[network]\nmax_redirects = 100\n",
     "network.max_redirects: Input should be less than or equal to 30"),
    ("ftp URL", '[[feeds]]\nname = "a"\nurl = "ftp://x"\n',
     "feeds[0].url: invalid URL 'ftp://x' (expected an http:// or https:// URL)"),
    ("not a URL", '[[feeds]]\nname = "a"\nurl = "not a url"\n',
     "feeds[0].url: invalid URL 'not a url' (expected an http:// or https:// URL)"),
    ("missing URL", '[[feeds]]\nname = "a"\n',
     "feeds[0].url: Field required"),
    ("bad duration", FEED + 'interval = "soon"\n',
     "feeds[0].interval: invalid duration 'soon' (expected e.g. \"30s\", \"15m\", \"1h30m\")"),
    ("bad duration in the second feed",
     FEED + '[[feeds]]\nname = "b"\nurl = "https://example.com/b"\ninterval = "soon"\n',
     "feeds[1].interval: invalid duration 'soon' (expected e.g. \"30s\", \"15m\", \"1h30m\")"),
    ("negative duration", FEED + 'interval = "-5m"\n',
     "feeds[0].interval: duration must be positive, got '-5m'"),
    ("negative number of seconds", FEED + "interval = -5\n",
     "feeds[0].interval: duration must be positive, got -5"),
    ("zero duration", '[network]\nconnect_timeout = "0s"\n',
     "network.connect_timeout: duration must be positive, got '0s'"),
    ("min above max interval", '[scheduler]\nmin_interval = "2h"\nmax_interval = "1h"\n',
     "scheduler.min_interval: min_interval (7200s) is longer than max_interval (3600s)"),
    ("bad size", '[network]\nmax_body_size = "lots"\n',
     "network.max_body_size: invalid size 'lots' (expected e.g. \"10MB\" or a number of bytes)"),
    ("duplicate feed name", FEED + FEED.replace("feed.xml", "other.xml"),
     "feeds[1].name: duplicate feed name 'a' (already used by feeds[0])"),
    ("duplicate topic id", topic() + topic(),
     "topics[1] ('t').id: duplicate topic id 't' (already used by topics[0])"),
    ("empty keyword group", topic(groups="meeting = []"),
     "topics[0] ('t').keywords.meeting: keyword group 'meeting' is empty"),
    ("blank keyword group", topic(groups='meeting = ["  "]'),
     "topics[0] ('t').keywords.meeting: keyword group 'meeting' is empty"),
    ("keyword group not a list", topic(groups='meeting = "talks"'),
     "topics[0] ('t').keywords.meeting: Input should be a valid list"),
    ("rule names an unknown group", topic('rule = { all = ["india", "rusia"] }'),
     "topics[0] ('t').rule: rule names unknown keyword group 'rusia' (did you mean 'russia'?)"),
    ("rule is an unknown group", topic('rule = "indai"'),
     "topics[0] ('t').rule: rule names unknown keyword group 'indai' (did you mean 'india'?)"),
    ("nested rule names an unknown group", topic('rule = { all = ["india", { not = "phone" }] }'),
     "topics[0] ('t').rule: rule names unknown keyword group 'phone'"),
    ("rule with two operators", topic('rule = { all = ["india"], any = ["russia"] }'),
     "topics[0] ('t').rule: a rule needs exactly one of 'all', 'any' or 'not'"),
    ("nested rule with two operators", topic('rule = { all = ["india", { any = ["russia"], not = "india" }] }'),
     "topics[0] ('t').rule.all[1]: a rule needs exactly one of 'all', 'any' or 'not'"),
    ("rule with an empty operator", topic("rule = { any = [] }"),
     "topics[0] ('t').rule: 'all' and 'any' need at least one member"),
    ("rule with an unknown operator", topic('rule = { and = ["india", "russia"] }'),
     "topics[0] ('t').rule.and: unknown key 'and' (did you mean 'any'?)"),
    ("reference glob matches nothing", topic('reference_documents = ["reference/*.md"]'),
     "topics[0] ('t').reference_documents: 'reference/*.md' matches no file"),
    ("bad topic id", topic().replace('id = "t"', 'id = "India Russia"'),
     "topics[0] ('India Russia').id: invalid topic id 'India Russia' (lowercase letters, digits, '-' and '_')"),
    ("field weight out of range", topic("field_weights = { title = 1.5 }"),
     "topics[0] ('t').field_weights.title: Input should be less than or equal to 1"),
    ("unknown field weight", topic("field_weights = { body = 0.5 }"),
     "topics[0] ('t').field_weights.body: unknown key 'body'"),
    ("negative history window", topic("history_days = -1"),
     "topics[0] ('t').history_days: Input should be greater than or equal to 0"),
    ("exclusions not a list", topic('exclusions = "Indian Ocean"'),
     "topics[0] ('t').exclusions: Input should be a valid list"),
    ("context rule names an unknown group", topic('context_rule = { all = ["sumit"] }'),
     "topics[0] ('t').context_rule: context rule names unknown keyword group 'sumit'"),
    ("threshold out of range", topic("threshold = 2"),
     "topics[0] ('t').threshold: Input should be less than or equal to 1"),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_broken_config_message(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    assert strip_prefix(load_error(path), path) == expected


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[network]\nmax_redirects = 5\nuser_agent = = \"x\"\n")
    problem = strip_prefix(load_error(path), path)
    assert problem.startswith("invalid TOML: ")
    assert "line 3" in problem


def test_reference_glob_resolves_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "one.md").write_text("India and Russia hold their annual summit.\n")
    config = load_config(write(tmp_path, topic('reference_documents = ["reference/*.md"]')))
    assert [p.name for p in config.reference_paths(config.topics[0])] == ["one.md"]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: config file not found"


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, FEED)
    monkeypatch.setenv("NEWS_MONITOR_CONFIG", str(path))
    assert [f.name for f in load_config().feeds] == ["a"]


def test_config_from_dict_names_no_file() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"feeds": [{"name": "a", "url": "ftp://x"}]})
    assert str(info.value) == "<config>: feeds[0].url: invalid URL 'ftp://x' (expected an http:// or https:// URL)"


# --- the database URL override ----------------------------------------------------------------------


def test_database_url_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[storage]\nurl = "sqlite:///from-file.sqlite3"\n')
    assert load_config(path).storage.url == "sqlite:///from-file.sqlite3"

    argument = "postgresql+psycopg://monitor@db.example:5432/news"
    assert load_config(path, database_url=argument).storage.url == argument

    monkeypatch.setenv("NEWS_MONITOR_DATABASE_URL", "sqlite:///from-env.sqlite3")
    assert load_config(path).storage.url == "sqlite:///from-env.sqlite3"
    assert load_config(path, database_url=argument).storage.url == argument  # the argument wins


def test_database_url_without_storage_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, FEED)
    assert load_config(path).storage.url == "sqlite:///data/news-monitor.sqlite3"
    monkeypatch.setenv("NEWS_MONITOR_DATABASE_URL", "sqlite:///from-env.sqlite3")
    assert load_config(path).storage.url == "sqlite:///from-env.sqlite3"
