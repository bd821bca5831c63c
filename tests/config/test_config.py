"""Tests for monitor.config: the shipped config, value parsing, and one clear line per broken config."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import config_errors, config_from_dict, load_config, parse_duration, parse_size
from monitor.errors import ConfigError
from tests.builders import SHIPPED_CONFIG

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


CHANNEL = ('[[digest.channels]]\ntype = "email"\nsmtp_host = "smtp.example.org"\nfrom = "monitor@example.org"\n'
           'to = ["me@example.org"]\n')


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
    """The message without its "<file>:" prefix (the file is named as given or resolved): "<line>: <key>: ..."."""
    for prefix in (f"{path.resolve()}:", f"{path}:"):
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
     "1: netwrk: unknown key 'netwrk' (did you mean 'network'?)"),
    ("unknown key in a section", "[network]\nconect_timeout = \"5s\"\n",
     "2: network.conect_timeout: unknown key 'conect_timeout' (did you mean 'connect_timeout'?)"),
    ("unknown key in a feed", FEED + 'intervall = "15m"\n',
     "4: feeds[0].intervall: unknown key 'intervall' (did you mean 'interval'?)"),
    ("wrong type", '[network]\nmax_redirects = "many"\n',
     "2: network.max_redirects: Input should be a valid integer, unable to parse string as an integer"),
    ("out of range", "[network]\nmax_redirects = 100\n",
     "2: network.max_redirects: Input should be less than or equal to 30"),
    ("ftp URL", '[[feeds]]\nname = "a"\nurl = "ftp://x"\n',
     "3: feeds[0].url: invalid URL 'ftp://x' (expected an http:// or https:// URL)"),
    ("not a URL", '[[feeds]]\nname = "a"\nurl = "not a url"\n',
     "3: feeds[0].url: invalid URL 'not a url' (expected an http:// or https:// URL)"),
    ("missing URL", '[[feeds]]\nname = "a"\n',
     "1: feeds[0].url: Field required"),
    ("bad duration", FEED + 'interval = "soon"\n',
     "4: feeds[0].interval: invalid duration 'soon' (expected e.g. \"30s\", \"15m\", \"1h30m\")"),
    ("bad duration in the second feed",
     FEED + '[[feeds]]\nname = "b"\nurl = "https://example.com/b"\ninterval = "soon"\n',
     "7: feeds[1].interval: invalid duration 'soon' (expected e.g. \"30s\", \"15m\", \"1h30m\")"),
    ("negative duration", FEED + 'interval = "-5m"\n',
     "4: feeds[0].interval: duration must be positive, got '-5m'"),
    ("negative number of seconds", FEED + "interval = -5\n",
     "4: feeds[0].interval: duration must be positive, got -5"),
    ("zero duration", '[network]\nconnect_timeout = "0s"\n',
     "2: network.connect_timeout: duration must be positive, got '0s'"),
    ("min above max interval", '[scheduler]\nmin_interval = "2h"\nmax_interval = "1h"\n',
     "2: scheduler.min_interval: min_interval (7200s) is longer than max_interval (3600s)"),
    ("bad size", '[network]\nmax_body_size = "lots"\n',
     "2: network.max_body_size: invalid size 'lots' (expected e.g. \"10MB\" or a number of bytes)"),
    ("duplicate feed name", FEED + FEED.replace("feed.xml", "other.xml"),
     "5: feeds[1].name: duplicate feed name 'a' (already used by feeds[0])"),
    ("duplicate topic id", topic() + topic(),
     "12: topics[1] ('t').id: duplicate topic id 't' (already used by topics[0])"),
    ("empty keyword group", topic(groups="meeting = []"),
     "9: topics[0] ('t').keywords.meeting: keyword group 'meeting' is empty"),
    ("blank keyword group", topic(groups='meeting = ["  "]'),
     "9: topics[0] ('t').keywords.meeting: keyword group 'meeting' is empty"),
    ("keyword group not a list", topic(groups='meeting = "talks"'),
     "9: topics[0] ('t').keywords.meeting: Input should be a valid list"),
    ("rule names an unknown group", topic('rule = { all = ["india", "rusia"] }'),
     "5: topics[0] ('t').rule: rule names unknown keyword group 'rusia' (did you mean 'russia'?)"),
    ("rule is an unknown group", topic('rule = "indai"'),
     "5: topics[0] ('t').rule: rule names unknown keyword group 'indai' (did you mean 'india'?)"),
    ("nested rule names an unknown group", topic('rule = { all = ["india", { not = "phone" }] }'),
     "5: topics[0] ('t').rule: rule names unknown keyword group 'phone'"),
    ("rule with two operators", topic('rule = { all = ["india"], any = ["russia"] }'),
     "5: topics[0] ('t').rule: a rule needs exactly one of 'all', 'any' or 'not'"),
    ("nested rule with two operators", topic('rule = { all = ["india", { any = ["russia"], not = "india" }] }'),
     "5: topics[0] ('t').rule.all[1]: a rule needs exactly one of 'all', 'any' or 'not'"),
    ("rule with an empty operator", topic("rule = { any = [] }"),
     "5: topics[0] ('t').rule: 'all' and 'any' need at least one member"),
    ("rule with an unknown operator", topic('rule = { and = ["india", "russia"] }'),
     "5: topics[0] ('t').rule.and: unknown key 'and' (did you mean 'any'?)"),
    ("reference glob matches nothing", topic('reference_documents = ["reference/*.md"]'),
     "5: topics[0] ('t').reference_documents: 'reference/*.md' matches no file"),
    ("bad topic id", topic().replace('id = "t"', 'id = "India Russia"'),
     "3: topics[0] ('India Russia').id: invalid topic id 'India Russia' (lowercase letters, digits, '-' and '_')"),
    ("field weight out of range", topic("field_weights = { title = 1.5 }"),
     "5: topics[0] ('t').field_weights.title: Input should be less than or equal to 1"),
    ("unknown field weight", topic("field_weights = { body = 0.5 }"),
     "5: topics[0] ('t').field_weights.body: unknown key 'body'"),
    ("negative history window", topic("history_days = -1"),
     "5: topics[0] ('t').history_days: Input should be greater than or equal to 0"),
    ("exclusions not a list", topic('exclusions = "Indian Ocean"'),
     "5: topics[0] ('t').exclusions: Input should be a valid list"),
    ("context rule names an unknown group", topic('context_rule = { all = ["sumit"] }'),
     "5: topics[0] ('t').context_rule: context rule names unknown keyword group 'sumit'"),
    ("threshold out of range", topic("threshold = 2"),
     "5: topics[0] ('t').threshold: Input should be less than or equal to 1"),
    # The line of an element of a multi-line array, and of a key in a table of an array of tables.
    ("a term that is not a string", topic(groups='meeting = [\n    "talks",\n    "met", 4,\n]'),
     "11: topics[0] ('t').keywords.meeting[2]: Input should be a valid string"),
    ("not a boolean", '[network]\nallow_private_addresses = "yes"\n',
     "2: network.allow_private_addresses: Input should be a valid boolean"),
    ("a channel without its host", CHANNEL.replace('smtp_host = "smtp.example.org"\n', ""),
     "1: digest.channels[0].smtp_host: Field required"),
    ("unknown key in a channel", CHANNEL + "smtp_prot = 25\n",
     "6: digest.channels[0].smtp_prot: unknown key 'smtp_prot' (did you mean 'smtp_port'?)"),
    ("bad webhook URL", '[[digest.channels]]\ntype = "webhook"\nurl = "example.org/hook"\n',
     "3: digest.channels[0].url: invalid URL 'example.org/hook' (expected an http:// or https:// URL)"),
    ("bad cron schedule", '[digest]\nschedule = "at eight"\n',
     "2: digest.schedule: invalid cron schedule 'at eight' (Wrong number of fields; got 2, expected 5; expected "
     "five fields: minute hour day month weekday, e.g. \"0 8 * * *\")"),
    ("invalid TOML", '[network]\nmax_redirects = 5\nuser_agent = = "x"\n',
     "3: invalid TOML: Invalid value (column 14)"),
    ("a key defined twice", '[network]\nmax_redirects = 5\n\n[network]\nmax_redirects = 6\n',
     "4: invalid TOML: Cannot declare ('network',) twice (column 9)"),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_broken_config_message(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    assert strip_prefix(load_error(path), path) == expected


def test_invalid_toml_at_the_end_names_the_last_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[network]\nmax_redirects = 5\nuser_agent = "x"\nmax_body_size = [1,\n')
    assert load_error(path) == f"{path}:4: invalid TOML: Invalid value (at the end of the file)"


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


# --- every error, in the order of the file ---------------------------------------------------------------


def test_every_error_is_listed_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, '[[feeds]]\nname = "a"\nurl = "ftp://x"\n\n[network]\nmax_redirects = 100\n'
                           'conect_timeout = "5s"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert config_errors(info.value) == [
        f"{path}:3: feeds[0].url: invalid URL 'ftp://x' (expected an http:// or https:// URL)",
        f"{path}:6: network.max_redirects: Input should be less than or equal to 30",
        f"{path}:7: network.conect_timeout: unknown key 'conect_timeout' (did you mean 'connect_timeout'?)",
    ]
    assert str(info.value) == config_errors(info.value)[0]


def test_a_key_in_the_shipped_config_is_named_by_its_line(tmp_path: Path) -> None:
    text = SHIPPED_CONFIG.read_text(encoding="utf-8").replace('"Kremlin", "Russian Federation"',
                                                               '"Kremlin", 7, "Russian Federation"')
    path = write(tmp_path, text.replace('reference_documents = ["reference/*.md"]', "reference_documents = []"))
    line = text[:text.index('"Kremlin", 7')].count("\n") + 1
    assert load_error(path) == (f"{path}:{line}: topics[0] ('india-russia-summit').keywords.russia_side[5]: "
                                "Input should be a valid string")


# --- environment overrides: NEWS_MONITOR_<SECTION>_<KEY> --------------------------------------------------


def test_the_extract_section_is_overridden_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[extract]\ntimeout = "10s"\n')
    config = load_config(path, env={"NEWS_MONITOR_EXTRACT_TIMEOUT": "3s", "NEWS_MONITOR_EXTRACT_WORKERS": "1"})
    assert (config.extract.timeout, config.extract.workers) == (3.0, 1)


def test_env_overrides_take_toml_values_or_strings(tmp_path: Path) -> None:
    path = write(tmp_path, '[network]\ntotal_timeout = "60s"\nmax_redirects = 5\n')
    env = {"NEWS_MONITOR_NETWORK_TOTAL_TIMEOUT": "30s", "NEWS_MONITOR_SCHEDULER_MAX_WORKERS": "8",
           "NEWS_MONITOR_NETWORK_ALLOW_PRIVATE_ADDRESSES": "true", "NEWS_MONITOR_WEB_TOKEN": '"quoted"',
           "NEWS_MONITOR_DIGEST_FORMATS": '["json"]', "NEWS_MONITOR_STORAGE_URL": "sqlite:///env.sqlite3",
           # The program's own variables are not settings.
           "NEWS_MONITOR_DEBUG": "1", "NEWS_MONITOR_SHARED": "/x", "NEWS_MONITOR_AUTO_MIGRATE": "1",
           "NEWS_MONITOR_TEST_DATABASE_URL": "postgresql://x", "NEWS_MONITOR_CONFIG": str(path)}
    config = load_config(path, env=env)
    assert config.network.total_timeout == 30 and config.network.max_redirects == 5
    assert config.scheduler.max_workers == 8
    assert config.network.allow_private_addresses is True
    assert config.web.token == "quoted"
    assert config.digest.formats == ["json"]
    assert config.storage.url == "sqlite:///env.sqlite3"
    # The command line's --database-url (and NEWS_MONITOR_DATABASE_URL, its variable) wins over them all.
    assert load_config(path, env=env, database_url="sqlite:///flag.sqlite3").storage.url == "sqlite:///flag.sqlite3"
    env["NEWS_MONITOR_DATABASE_URL"] = "sqlite:///database-url.sqlite3"
    assert load_config(path, env=env).storage.url == "sqlite:///database-url.sqlite3"


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("NEWS_MONITOR_NETWORK_CONECT_TIMEOUT", "5s",
     "env NEWS_MONITOR_NETWORK_CONECT_TIMEOUT: network.conect_timeout: unknown key 'conect_timeout' (did you mean "
     "'connect_timeout'?)"),
    ("NEWS_MONITOR_NETWORK_TOTAL_TIMEOUT", "soon",
     "env NEWS_MONITOR_NETWORK_TOTAL_TIMEOUT: network.total_timeout: invalid duration 'soon' (expected e.g. \"30s\", "
     "\"15m\", \"1h30m\")"),
    ("NEWS_MONITOR_SCHEDULER_MAX_WORKERS", "many",
     "env NEWS_MONITOR_SCHEDULER_MAX_WORKERS: scheduler.max_workers: Input should be a valid integer, unable to parse "
     "string as an integer"),
    ("NEWS_MONITOR_WEB_PORT", "0",
     "env NEWS_MONITOR_WEB_PORT: web.port: Input should be greater than or equal to 1"),
])
def test_a_bad_env_override_names_the_variable(tmp_path: Path, variable: str, value: str, expected: str) -> None:
    path = write(tmp_path, FEED)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={variable: value})
    assert str(info.value) == expected


def test_a_variable_named_by_an_env_key_is_a_secret_not_an_override(tmp_path: Path) -> None:
    path = write(tmp_path, '[web]\ntoken_env = "NEWS_MONITOR_WEB_SECRET_TOKEN"\n')
    config = load_config(path, env={"NEWS_MONITOR_WEB_SECRET_TOKEN": "abc", "NEWS_MONITOR_OTHER_THING": "x"})
    assert config.web.token_env == "NEWS_MONITOR_WEB_SECRET_TOKEN" and config.web.token is None
