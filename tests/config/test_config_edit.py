"""Editing the config from the command line (keywords, feeds) keeps the user's file as they wrote it, and
`config check` prints the resolved config or every error."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from monitor.config import load_config
from tests.builders import SHIPPED_CONFIG, cli, one_line

TOPIC = "india-russia-summit"


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """The shipped config and its reference documents, in a folder of the test's own."""
    shutil.copytree(SHIPPED_CONFIG.parent / "reference", tmp_path / "reference")
    path = tmp_path / "monitor.toml"
    shutil.copyfile(SHIPPED_CONFIG, path)
    return path


# --- keywords ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", ["russia_side", "summit"])  # a multi-line array, and a one-line one
def test_keywords_add_then_remove_gives_back_the_same_bytes(shipped: Path, group: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    original = shipped.read_bytes()
    code, out, _ = cli(capsys, "keywords", "add", TOPIC, group, "Rosneft", "Gazprom Neft", config=shipped)
    assert code == 0
    assert out.splitlines() == [f"{TOPIC} {group}: added 'Rosneft'", f"{TOPIC} {group}: added 'Gazprom Neft'"]
    assert load_config(shipped).topics[0].keywords[group][-2:] == ["Rosneft", "Gazprom Neft"]
    # Only the group's array changed: every comment is still there.
    edited = shipped.read_text(encoding="utf-8")
    original_text = original.decode("utf-8")
    assert [line for line in original_text.splitlines() if line.lstrip().startswith("#")] == \
        [line for line in edited.splitlines() if line.lstrip().startswith("#")]

    code, out, _ = cli(capsys, "keywords", "remove", TOPIC, group, "Rosneft", "Gazprom Neft", config=shipped)
    assert code == 0
    assert out.splitlines() == [f"{TOPIC} {group}: removed 'Rosneft'", f"{TOPIC} {group}: removed 'Gazprom Neft'"]
    assert shipped.read_bytes() == original


def test_adding_a_present_term_or_removing_an_absent_one_changes_nothing(
        shipped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = shipped.read_bytes()
    code, out, _ = cli(capsys, "keywords", "add", TOPIC, "russia_side", "putin", config=shipped)  # case does not count
    assert code == 0
    assert out.splitlines() == [f"{TOPIC} russia_side: 'putin' already present, unchanged", "nothing changed"]
    code, out, _ = cli(capsys, "keywords", "remove", TOPIC, "russia_side", "Rosneft", config=shipped)
    assert code == 0
    assert out.splitlines() == [f"{TOPIC} russia_side: 'Rosneft' not present, unchanged", "nothing changed"]
    assert shipped.read_bytes() == original


@pytest.mark.parametrize(("args", "expected"), [
    (["add", "india-russia-sumit", "russia_side", "x"],
     "no topic 'india-russia-sumit' (did you mean 'india-russia-summit'?) (topics: india-russia-summit)"),
    (["add", TOPIC, "rusia_side", "x"],
     f"topic '{TOPIC}' has no keyword group 'rusia_side' (did you mean 'russia_side'?) (groups: india_leader, "
     "russia_leader, india_side, russia_side, meeting, summit, phone_call, together, multilateral, bilateral, "
     "leader_title, official_title, third_party)"),
])
def test_keywords_of_an_unknown_topic_or_group(shipped: Path, capsys: pytest.CaptureFixture[str],
                                               args: list[str], expected: str) -> None:
    original = shipped.read_bytes()
    code, out, err = cli(capsys, "keywords", *args, config=shipped)
    assert code == 1 and out == ""
    assert one_line(err, message_only=True) == expected
    assert shipped.read_bytes() == original


def test_an_edit_that_breaks_the_config_is_refused(shipped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = shipped.read_bytes()
    every = load_config(shipped).topics[0].keywords["summit"]  # in English, Russian and Hindi
    code, _, err = cli(capsys, "keywords", "remove", TOPIC, "summit", *every, config=shipped)
    assert code == 1
    assert one_line(err, message_only=True) == (
        f"{shipped}: topics[0] ('{TOPIC}').keywords.summit: keyword group 'summit' is empty "
        f"(edit refused: {shipped} not changed)")
    assert shipped.read_bytes() == original
    assert sorted(p.name for p in shipped.parent.iterdir()) == ["monitor.toml", "reference"]  # no temp file left


def test_keywords_list(shipped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "keywords", "list", "--topic", TOPIC, config=shipped)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == TOPIC
    summit = load_config(shipped).topics[0].keywords["summit"]
    assert summit[:5] == ["summit", "summits", "summitry", "state visit", "саммит"]  # English, then Russian, Hindi
    assert lines[6] == f"  summit ({len(summit)}): {', '.join(summit)}"
    assert len(lines) == 1 + len(load_config(shipped).topics[0].keywords)  # the topic, then a line a group
    code, out, _ = cli(capsys, "keywords", "list", "--format", "json", config=shipped)
    assert json.loads(out)[TOPIC]["summit"] == summit
    code, _, err = cli(capsys, "keywords", "list", "--topic", "other", config=shipped)
    assert code == 1 and one_line(err, message_only=True) == "--topic: no topic 'other' (topics: india-russia-summit)"


# --- feeds -------------------------------------------------------------------------------------------------


def test_feeds_add_then_remove_gives_back_the_same_bytes(shipped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = shipped.read_bytes()
    code, out, _ = cli(capsys, "feeds", "add", "https://www.example.org/rss.xml", config=shipped)
    assert (code, out) == (0, "feed added: example-org (https://www.example.org/rss.xml)\n")
    code, out, _ = cli(capsys, "feeds", "add", "https://news.example.org/a", "--name", "ex-news",
                       "--interval", "10m", config=shipped)
    assert (code, out) == (0, "feed added: ex-news (https://news.example.org/a)\n")
    feeds = load_config(shipped).feeds
    assert [(f.name, f.url, f.interval) for f in feeds[-2:]] == [
        ("example-org", "https://www.example.org/rss.xml", "adaptive"), ("ex-news", "https://news.example.org/a", 600)]
    assert shipped.read_bytes().startswith(original)  # new feeds go at the end; the rest is as it was

    code, out, _ = cli(capsys, "feeds", "list", config=shipped)
    assert [line.split() for line in out.splitlines()[-2:]] == [
        ["example-org", "https://www.example.org/rss.xml", "adaptive", "page"],
        ["ex-news", "https://news.example.org/a", "600s", "page"]]
    assert cli(capsys, "feeds", "remove", "ex-news", config=shipped)[1] == "feed removed: ex-news (https://news.example.org/a)\n"
    assert cli(capsys, "feeds", "remove", "example-org", config=shipped)[0] == 0
    assert shipped.read_bytes() == original


@pytest.mark.parametrize(("args", "expected"), [
    (["add", "https://TASS.com/rss/v2.xml?utm_source=x"],
     "https://TASS.com/rss/v2.xml?utm_source=x: already configured as feed 'tass-world'"),
    (["add", "https://other.example.org/rss", "--name", "tass-world"],
     "feed name 'tass-world' is taken (by https://tass.com/rss/v2.xml)"),
    (["add", "ftp://example.org/rss"],
     "{file}: feeds[6].url: invalid URL 'ftp://example.org/rss' (expected an http:// or https:// URL) "
     "(edit refused: {file} not changed)"),
    (["add", "https://example.org/rss", "--interval", "soon"],
     "{file}: feeds[6].interval: invalid duration 'soon' (expected e.g. \"30s\", \"15m\", \"1h30m\") "
     "(edit refused: {file} not changed)"),
    (["remove", "tass-wrld"], "no feed named 'tass-wrld' (did you mean 'tass-world'?)"),
])
def test_feed_edits_refused(shipped: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                            expected: str) -> None:
    original = shipped.read_bytes()
    code, out, err = cli(capsys, "feeds", *args, config=shipped)
    assert code == 1 and out == ""
    assert one_line(err, message_only=True) == expected.format(file=shipped)
    assert shipped.read_bytes() == original


def test_feeds_remove_keeps_the_comments_of_the_others(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "monitor.toml"
    head = '# my feeds\n\n[[feeds]]\nname = "a"\nurl = "https://a.example.org/rss"\n\n'
    middle = '# b is slow\n[[feeds]]\nname = "b"\nurl = "https://b.example.org/rss"\ninterval = "1h"\n\n'
    tail = '# --- topics follow ---\n\n[[feeds]]\nname = "c"\nurl = "https://c.example.org/rss"\n'
    path.write_text(head + middle + tail, encoding="utf-8")
    assert cli(capsys, "feeds", "remove", "b", config=path)[0] == 0
    assert path.read_text(encoding="utf-8") == head + tail  # b's own comment went with it
    assert cli(capsys, "feeds", "remove", "a", config=path)[0] == 0
    # The comment block in front of c stays with c.
    assert path.read_text(encoding="utf-8") == '# my feeds\n\n' + tail


def test_the_last_shipped_feed_leaves_the_topics_comment(shipped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = shipped.read_text(encoding="utf-8")
    assert cli(capsys, "feeds", "remove", "google-news-india-russia-summit", config=shipped)[0] == 0
    text = shipped.read_text(encoding="utf-8")
    assert "# --- Topics ---" in text and "google-news" not in text
    removed = [line for line in original.splitlines() if line not in text.splitlines()]
    assert removed == ['name = "google-news-india-russia-summit"',
                       'url = "https://news.google.com/rss/search?q=%22India%22+%22Russia%22+summit+OR+Modi+Putin+OR+'
                       'Jaishankar+Lavrov&hl=en-IN&gl=IN&ceid=IN:en"', "fetch_full_text = true"]
    expected = tomllib.loads(original)
    del expected["feeds"][5]
    assert tomllib.loads(text) == expected


def test_a_keyword_edit_after_a_feed_was_added_changes_only_the_keywords(
        shipped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The added [[feeds]] comes after [[topics]]: a document split like this must not be rearranged.
    assert cli(capsys, "feeds", "add", "https://www.example.org/rss.xml", config=shipped)[0] == 0
    before = shipped.read_text(encoding="utf-8")
    assert cli(capsys, "keywords", "add", TOPIC, "russia_side", "Rosneft", config=shipped)[0] == 0
    after = shipped.read_text(encoding="utf-8")
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    line = '    "सर्गेई लावरोव", "पेसकोव", "उशाकोव",'  # the group's last line (its Hindi terms)
    assert changed == [(line, line + ' "Rosneft",')]
    assert cli(capsys, "keywords", "remove", TOPIC, "russia_side", "Rosneft", config=shipped)[0] == 0
    assert shipped.read_text(encoding="utf-8") == before


# --- config check ------------------------------------------------------------------------------------------


def test_config_check_prints_the_resolved_config(shipped: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    text = shipped.read_text(encoding="utf-8").replace("\n[web]\n", '\n[web]\ntoken = "s3cret-token"\n', 1)
    shipped.write_text(text + '\n[[digest.channels]]\ntype = "webhook"\n'
                       'url = "https://hooks.example.org/x"\nsecret = "hook-s3cret"\n', encoding="utf-8")
    monkeypatch.setenv("NEWS_MONITOR_NETWORK_TOTAL_TIMEOUT", "30s")
    monkeypatch.setenv("NEWS_MONITOR_SCHEDULER_MAX_WORKERS", "8")
    code, out, err = cli(capsys, "config", "check", config=shipped)
    assert code == 0 and err == ""
    assert "s3cret" not in out
    assert "# set by the environment: NEWS_MONITOR_NETWORK_TOTAL_TIMEOUT" in out.splitlines()
    resolved = tomllib.loads(out)
    assert resolved["network"]["total_timeout"] == 30  # env over the file's 60s
    assert resolved["network"]["connect_timeout"] == 10  # the file
    assert resolved["scheduler"]["max_workers"] == 8
    assert resolved["digest"]["retries"] == 3  # a default the file does not set
    assert resolved["web"]["token"] == "***"
    assert resolved["digest"]["channels"][0]["secret"] == "***"
    assert [f["name"] for f in resolved["feeds"]][:1] == ["tass-world"]

    code, out, _ = cli(capsys, "config", "check", "--format", "json", config=shipped)
    document = json.loads(out)
    assert code == 0 and document["source"] == str(shipped.resolve()) and len(document["version"]) == 12
    assert document["config"]["network"]["total_timeout"] == 30 and "s3cret" not in out


def test_config_check_prints_every_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text('[network]\nmax_redirects = "x"\nconect_timeout = "5s"\n\n[[feeds]]\nname = "a"\n'
                    'url = "https://a.example.org/rss"\ninterval = "soon"\n', encoding="utf-8")
    other = tmp_path / "good.toml"
    other.write_text("", encoding="utf-8")
    code, out, err = cli(capsys, "config", "check", "--file", str(path), config=other)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{path}:2: network.max_redirects: Input should be a valid integer, unable to parse string as an integer",
        f"{path}:3: network.conect_timeout: unknown key 'conect_timeout' (did you mean 'connect_timeout'?)",
        f"{path}:8: feeds[0].interval: invalid duration 'soon' (expected e.g. \"30s\", \"15m\", \"1h30m\")",
    ]
    code, out, _ = cli(capsys, "config", "check", config=other)
    assert code == 0 and "[network]" in out
