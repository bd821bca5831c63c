"""Story features stored when an article is tagged (the story_features view): a digest grouping from them makes
the same stories as grouping from the texts, on the demo's log and on the dev items, and the view rebuilt from
the log equals the view kept live, revisions included."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor.config import load_config
from monitor.demo.run import demo_site
from monitor.digest.build import Digest, build_digest
from monitor.events import catalogue as ev
from monitor.language.features import STORY_TEXT_CHARS, text_features
from monitor.views import queries
from monitor.views.projections import Projections
from monitor.views.tables import story_features
from storage.engine import make_engine, reading
from storage.eventlog import EventLog, NewEvent

REPO = Path(__file__).resolve().parents[2]
TOPIC = "india-russia-summit"
T0 = dt.datetime(2025, 11, 1, tzinfo=dt.UTC)


@pytest.fixture
def event_log(database_url: str) -> Iterator[EventLog]:
    log = EventLog.open(database_url, migrate=True, upcasters=ev.UPCASTERS)
    yield log
    log.close()


def stories_by_article(digest: Digest) -> list[list[str]]:
    """The digest's stories as the article ids in each, in the digest's order."""
    return [sorted({digest.items[i]["article_id"] for i in story["items"]}) for story in digest.stories]


def from_texts(monkeypatch: pytest.MonkeyPatch, engine: Any) -> Digest:
    """The same digest with no stored features: every item's computed from its text, as before the view."""
    with monkeypatch.context() as patch:
        read = queries.digest_mentions  # the digest's read without the stored features, with every text
        patch.setattr(queries, "digest_mentions",
                      lambda *args, **kwargs: read(*args, **{**kwargs, "with_features": False, "with_text": True}))
        return build_digest(engine)


def assert_stored_features_serve_every_item(engine: Any, digest: Digest) -> None:
    ids = [item["article_id"] for item in digest.items]
    with reading(engine) as conn:
        assert set(queries.story_features(conn, ids)) == set(ids)


def test_the_demo_digest_groups_from_stored_features_as_from_the_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    with demo_site(load_config(REPO / "config" / "monitor.toml")) as (config, _):
        engine = make_engine(config.storage.url)
        try:
            stored = build_digest(engine)
            assert len(stored.items) >= 3
            assert_stored_features_serve_every_item(engine, stored)
            assert stories_by_article(stored) == stories_by_article(from_texts(monkeypatch, engine))
        finally:
            engine.dispose()


def dev_events(shared_dir: Path) -> list[list[NewEvent]]:
    """Each dev item as a tagged article; each full text a second time from another outlet (a repost), so that
    near copies group as well as rewrites."""
    rows = [json.loads(line) for line in (shared_dir / "data" / "articles" / "dev.jsonl").open(encoding="utf-8")]
    batches = []
    for n, row in enumerate(rows):
        try:
            published = dt.datetime.fromisoformat(row["date"]).replace(tzinfo=dt.UTC)
        except ValueError:
            published = T0
        original = f"{row['url']}#{n}"  # one article per item (some items share a URL)
        copies = [original] + ([f"https://repost.example/{n}"] if row["text_kind"].startswith("full_text") else [])
        for url in copies:
            article = ev.article_id(url)
            batches.append([
                ev.article_discovered(article, published, {"feed": "dev", "url": url, "canonical_url": url,
                                                           "entry_id": url, "title": row["title"],
                                                           "published_at": published.isoformat()}),
                ev.article_extracted(article, published, {"url": url, "title": row["title"], "text": row["text"],
                                                          "text_hash": f"{n}", "text_source": "page",
                                                          "word_count": len(row["text"].split()),
                                                          "published_at": published.isoformat()}),
                ev.mention_tagged(article, TOPIC, "v1", published, {
                    "mention": True, "decision": "mention", "score": 0.9, "sentences": [row["title"]],
                    "terms": ["Putin", "Modi", "India", "Russia", "meet*"], "title": row["title"], "url": url,
                    "feed": "dev"}),
            ])
    return batches


def test_dev_items_group_from_stored_features_as_from_the_texts(event_log: EventLog, shared_dir: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    event_log.append([event for batch in dev_events(shared_dir) for event in batch])
    Projections(event_log.engine, upcasters=ev.UPCASTERS, batch_size=100).catch_up()
    stored = build_digest(event_log.engine)
    assert len(stored.items) > 150
    assert_stored_features_serve_every_item(event_log.engine, stored)
    groups = stories_by_article(stored)
    assert groups == stories_by_article(from_texts(monkeypatch, event_log.engine))
    story_of = {article: k for k, group in enumerate(groups) for article in group}
    rows = [json.loads(line) for line in (shared_dir / "data" / "articles" / "dev.jsonl").open(encoding="utf-8")]
    reposted = [(ev.article_id(f"{row['url']}#{n}"), ev.article_id(f"https://repost.example/{n}"))
                for n, row in enumerate(rows) if row["text_kind"].startswith("full_text")]
    assert len(reposted) > 50
    assert all(story_of[original] == story_of[repost] for original, repost in reposted)  # a repost is its story


def features_table(log: EventLog) -> list[dict[str, Any]]:
    with log.engine.connect() as conn:
        return sorted((dict(row) for row in conn.execute(select(story_features)).mappings()),
                      key=lambda r: r["article_id"])


def test_the_story_features_view_rebuilt_equals_the_live_one_and_follows_revisions(event_log: EventLog) -> None:
    projections = Projections(event_log.engine, upcasters=ev.UPCASTERS, batch_size=2)
    text = "MOSCOW, November 14. /TASS/. Sergey Lavrov will hold talks with Subrahmanyam Jaishankar on Monday."
    revised = text + " The ministers will discuss the Kudankulam plant and trade of 65 billion dollars."
    ids = []
    for n in range(4):
        url = f"https://news.example/{n}"
        article = ev.article_id(url)
        ids.append(article)
        batch = [ev.article_discovered(article, T0, {"feed": "f", "url": url, "canonical_url": url, "entry_id": url,
                                                     "title": f"Talks {n}"}),
                 ev.article_extracted(article, T0, {"url": url, "title": f"Talks {n}", "text": text,
                                                    "text_hash": "h0", "text_source": "page", "word_count": 15})]
        if n != 3:  # the last is never tagged: no features
            batch.append(ev.mention_tagged(article, TOPIC, "v1", T0, {"mention": n != 2, "decision": "possible",
                                                                      "score": 0.5}))
        event_log.append(batch)
        projections.catch_up()
    event_log.append([ev.article_revised(ids[0], "r1", T0, {
        "feed": "f", "changes": ["title", "content"], "url": "https://news.example/0",
        "canonical_url": "https://news.example/0", "entry_hash": "e1", "title": "Talks revised", "text": revised,
        "text_hash": "h1", "text_source": "feed_content"})])
    event_log.append([ev.mention_judged(ids[3], TOPIC, "reject", T0, {"decision": "none"})])  # asks for none
    projections.catch_up()
    live = features_table(event_log)
    assert [row["article_id"] for row in live] == sorted(ids[:3])
    by_id = {row["article_id"]: row for row in live}
    assert (by_id[ids[0]]["title"], by_id[ids[0]]["text_hash"]) == ("Talks revised", "h1")
    assert by_id[ids[0]]["words"] == text_features("Talks revised", revised[:STORY_TEXT_CHARS]).as_json()["words"]
    assert by_id[ids[1]]["words"] == text_features("Talks 1", text).as_json()["words"]
    Projections(event_log.engine, upcasters=ev.UPCASTERS).rebuild()
    assert features_table(event_log) == live
