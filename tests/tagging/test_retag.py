"""`retag` and `explain` against a real log built by polling a local feed (127.0.0.1), on both backends.

The retag contract: add a keyword, `retag --dry-run` shows the newly matching article and writes nothing,
`retag` records it, a second `retag` records nothing; a tag the new rules no longer give is retracted and
leaves the digest; going back to the old rules tags it again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from monitor.cli import main
from monitor.config import load_config
from monitor.pipeline import Monitor
from tests.builders import cli, recent_rss
from tests.ingest.test_polling import Site

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TOPIC = "india-russia-summit"
ITEMS = [  # (slug, title, description)
    ("annual", "Modi meets Putin in New Delhi for the annual summit",
     "The two leaders opened the annual summit with a dinner."),
    ("kazan", "Modi and Putin convene in Kazan",
     "The Indian Prime Minister and the Russian President convene on Tuesday in Kazan."),
    ("weather", "Rain expected across the north", "Forecasters expect heavy rain this week."),
]


@pytest.fixture
def polled(write_config: Callable[..., Path]) -> Iterator[Path]:
    """A config whose log holds one poll of the feed; yields the config's path."""
    site = Site()
    site.route("/feed.xml", recent_rss(site.base, ITEMS, NOW, title="News", declaration='<?xml version="1.0"?>'))
    path = write_config([{"name": "news", "url": f"{site.base}/feed.xml", "fetch_full_text": False}])
    with Monitor(load_config(path)) as monitor:
        [outcome] = monitor.poll()
        assert outcome.status == "ok" and outcome.new_articles == 3
    yield path
    site.close()


def edit_topic(path: Path, change: Callable[[Any], None]) -> None:
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    change(document["topics"][0])
    path.write_text(tomlkit.dumps(document), encoding="utf-8")


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = cli(capsys, *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def count_events(path: Path) -> dict[str, int]:
    with Monitor(load_config(path)) as monitor:
        counts: dict[str, int] = {}
        for event in monitor.log.read():
            counts[event.type] = counts.get(event.type, 0) + 1
        return counts


def digest_titles(capsys: pytest.CaptureFixture[str], path: Path) -> list[str]:
    code, out, _ = cli(capsys, "digest", "--since", "2000-01-01", "--format", "json", config=path)
    assert code == 0
    return sorted(item["title"] for item in json.loads(out)["items"])


def test_a_new_keyword_is_shown_by_a_dry_run_recorded_by_retag_and_recorded_once(
        polled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = ["--config", str(polled)]
    assert digest_titles(capsys, polled) == ["Modi meets Putin in New Delhi for the annual summit"]
    assert cli_json(capsys, *config, "retag", "--dry-run")["changes"] == []  # nothing changed yet

    edit_topic(polled, lambda topic: topic["keywords"]["meeting"].append("convene"))
    before = count_events(polled)
    dry = cli_json(capsys, *config, "retag", "--dry-run")
    assert dry["dry_run"] is True and dry["recorded"] == 0
    assert [(c["change"], c["title"], c["before"], c["after"]) for c in dry["changes"]] == [
        ("added", "Modi and Putin convene in Kazan", "none", "mention")]
    assert dry["changes"][0]["sentences"] == [  # the title and the sentence of the text that name both sides
        "Modi and Putin convene in Kazan",
        "The Indian Prime Minister and the Russian President convene on Tuesday in Kazan."]
    assert count_events(polled) == before  # a dry run writes nothing

    done = cli_json(capsys, *config, "retag")
    assert done["recorded"] == 1 and [c["change"] for c in done["changes"]] == ["added"]
    assert count_events(polled)["MentionTagged"] == before["MentionTagged"] + 1
    assert digest_titles(capsys, polled) == ["Modi and Putin convene in Kazan",
                                             "Modi meets Putin in New Delhi for the annual summit"]

    again = cli_json(capsys, *config, "retag")
    assert again == {"dry_run": False, "recorded": 0, "changes": []}
    assert count_events(polled)["MentionTagged"] == before["MentionTagged"] + 1


def test_a_tag_the_rules_no_longer_give_is_retracted_and_comes_back_with_the_old_rules(
        polled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = ["--config", str(polled)]
    original = polled.read_text(encoding="utf-8")
    edit_topic(polled, lambda topic: topic.__setitem__("exclusions", ["Modi meets Putin in New Delhi"]))
    removed = cli_json(capsys, *config, "retag")
    assert [(c["change"], c["before"], c["after"]) for c in removed["changes"]] == [("removed", "mention", "none")]
    assert removed["recorded"] == 1 and count_events(polled)["MentionRetracted"] == 1
    assert digest_titles(capsys, polled) == []  # a retracted tag is in no digest

    explained = cli_json(capsys, *config, "explain", removed["changes"][0]["article_id"])
    assert explained["recorded"][TOPIC]["decision"] == "retracted"
    assert explained["recorded"][TOPIC]["previous_decision"] == "mention"

    polled.write_text(original, encoding="utf-8")
    back = cli_json(capsys, *config, "retag")
    assert [(c["change"], c["after"]) for c in back["changes"]] == [("added", "mention")]
    assert back["recorded"] == 1  # the same version as the first tag, but a new event: it supersedes the retraction
    assert digest_titles(capsys, polled) == ["Modi meets Putin in New Delhi for the annual summit"]


def test_retag_of_one_topic_and_since_a_date(polled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = ["--config", str(polled)]
    edit_topic(polled, lambda topic: topic["keywords"]["meeting"].append("convene"))
    future = (NOW + dt.timedelta(days=1)).date().isoformat()
    assert cli_json(capsys, *config, "retag", "--dry-run", "--since", future)["changes"] == []
    assert len(cli_json(capsys, *config, "retag", "--dry-run", "--topic", TOPIC)["changes"]) == 1
    capsys.readouterr()
    assert main([*config, "retag", "--topic", "no-such-topic"]) == 1
    assert "no topic 'no-such-topic'" in capsys.readouterr().err


def test_explain_prints_the_recorded_reasoning(polled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = ["--config", str(polled)]
    with Monitor(load_config(polled)) as monitor:
        url = next(e.data["url"] for e in monitor.log.read(types=["ArticleDiscovered"])
                   if e.data["url"].endswith("/annual.html"))
    data = cli_json(capsys, *config, "explain", url)
    tag = data["recorded"][TOPIC]
    assert data["article"]["title"] == "Modi meets Putin in New Delhi for the annual summit"
    assert tag["decision"] == "mention" and tag["rule_score"] == 1.0
    assert tag["evidence"][0]["field"] == "title" and "Putin" in tag["evidence"][0]["terms"]
    assert set(tag["similarity"]) == {"annual-summit-2025-preparations.md", "modi-putin-sco-tianjin-2025.md"}
    assert data["current"] is None

    capsys.readouterr()
    assert main([*config, "explain", data["article"]["article_id"][:8], "--current"]) == 0
    text = capsys.readouterr().out
    assert "india-russia-summit: recorded: mention" in text
    assert "india-russia-summit: with the current config: mention" in text
    assert "similarity to annual-summit-2025-preparations.md" in text
    assert "terms: " in text and "rule: " in text


def test_explain_of_an_untagged_article_and_of_nothing(polled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = ["--config", str(polled)]
    with Monitor(load_config(polled)) as monitor:
        weather = next(e.data["article_id"] for e in monitor.log.read(types=["ArticleDiscovered"])
                       if e.data["url"].endswith("/weather.html"))
    assert cli_json(capsys, *config, "explain", weather)["recorded"] == {}
    capsys.readouterr()
    assert main([*config, "explain", "zzzzzzzz"]) == 1
    assert "no stored article matches 'zzzzzzzz'" in capsys.readouterr().err
