"""The review state lives in the log: single tags reviewed (the web page), everything so far (the CLI), a
digest marked read; the same events and the same views, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.cli import main
from monitor.digest.build import Filters, build_digest
from monitor.events import catalogue as ev
from monitor.views.log import projections
from monitor.views.review import mark_reviewed, review_all
from monitor.views.tables import review_cursor, reviewed_mentions
from storage.eventlog import NewEvent
from tests.builders import config_for
from tests.seeding import T0, Story, add, open_seeded

STORIES = [
    Story("summit-preview", "Putin to visit New Delhi for the annual summit",
          "Putin will visit New Delhi on December 4 for the annual summit with Modi. Trade is on the agenda.",
          feed="feed-a", published=T0, score=0.95),
    Story("tianjin-meeting", "Modi meets Putin in Tianjin",
          "Modi met Putin in Tianjin on the sidelines of the SCO summit. They rode in the same car.",
          feed="feed-b", published=T0 - dt.timedelta(days=90), score=0.7),
    Story("lavrov-jaishankar", "Jaishankar holds talks with Lavrov in Moscow",
          "Jaishankar held talks with Lavrov in Moscow ahead of the summit. Energy was discussed.",
          feed="feed-a", published=T0 - dt.timedelta(days=17), score=0.55),
]


@pytest.fixture
def seeded(database_url: str, tmp_path: Path):
    config = config_for(database_url, tmp_path)
    log = open_seeded(config, STORIES)
    yield config, log
    log.close()


def slugs(digest) -> list[str]:
    by_id = {s.article_id: s.slug for s in STORIES}
    return sorted(by_id[item["article_id"]] for item in digest.items)


def test_reviewing_one_mention_records_one_event_and_leaves_the_others_unreviewed(seeded) -> None:
    _, log = seeded
    digest = build_digest(log.engine)
    assert slugs(digest) == ["lavrov-jaishankar", "summit-preview", "tianjin-meeting"]
    assert digest.counts["unreviewed"] == 3
    item = next(i for i in digest.items if i["article_id"] == STORIES[0].article_id)

    assert mark_reviewed(log, [(item["article_id"], item["topic"], item["position"])]) is True
    assert mark_reviewed(log, [(item["article_id"], item["topic"], item["position"])]) is False  # a double click

    reviews = list(log.read(types=[ev.DIGEST_REVIEWED]))
    assert len(reviews) == 1
    assert reviews[0].data["mentions"] == [{"article_id": STORIES[0].article_id, "topic": "india-russia-summit",
                                            "position": item["position"]}]
    assert reviews[0].data["up_to_position"] is None and reviews[0].data["source"] == "web"
    assert slugs(build_digest(log.engine)) == ["lavrov-jaishankar", "tianjin-meeting"]
    reviewed = build_digest(log.engine, filters=Filters(status="reviewed"))
    assert slugs(reviewed) == ["summit-preview"] and reviewed.items[0]["reviewed"] is True
    assert build_digest(log.engine).counts["unreviewed"] == 2
    everything = build_digest(log.engine, filters=Filters(status="all"))
    assert {i["article_id"]: i["reviewed"] for i in everything.items} == {
        STORIES[0].article_id: True, STORIES[1].article_id: False, STORIES[2].article_id: False}


def test_a_later_tag_of_a_reviewed_article_is_new_again(seeded) -> None:
    _, log = seeded
    mark_reviewed(log, build_digest(log.engine).refs())
    assert build_digest(log.engine).items == []
    retagged = dataclasses.replace(STORIES[1], version="v2", score=0.8)
    add(log, [retagged])
    digest = build_digest(log.engine)
    assert slugs(digest) == ["tianjin-meeting"] and digest.items[0]["score"] == 0.8


def test_review_all_moves_the_cursor_and_new_mentions_after_it_are_unreviewed(seeded) -> None:
    _, log = seeded
    before = log.last_position()
    position = review_all(log)
    assert position == before  # everything so far; the review event itself is after it
    assert build_digest(log.engine).items == []
    assert review_all(log) == position
    assert len(list(log.read(types=[ev.DIGEST_REVIEWED]))) == 1  # nothing new: the same key
    later = Story("state-visit-outcome", "Modi and Putin sign agreements in New Delhi",
                  "Modi and Putin signed agreements in New Delhi on December 5.", published=T0 + dt.timedelta(days=1))
    add(log, [later])
    assert [i["article_id"] for i in build_digest(log.engine).items] == [later.article_id]


def test_the_cursor_never_moves_back_and_an_old_schema_review_is_read(seeded) -> None:
    _, log = seeded
    last = log.last_position()
    log.append([ev.digest_reviewed(last, T0)])
    # A schema-1 review written by an earlier version, up to an older position: it never rewinds the cursor.
    log.append([NewEvent(ev.REVIEW_STREAM, ev.DIGEST_REVIEWED, "DigestReviewed:default:1",
                         {"up_to_position": 1, "reviewed_at": T0.isoformat()}, T0, schema=1)])
    projections(log).catch_up()
    assert list(log.read(types=[ev.DIGEST_REVIEWED], upcast=False))[-1].schema == 1
    old = list(log.read(types=[ev.DIGEST_REVIEWED]))[-1]
    assert old.data["mentions"] == [] and old.data["source"] is None  # upcast to schema 2
    with log.engine.connect() as conn:
        assert conn.execute(select(review_cursor.c.position)).scalar_one() == last


def test_filters_narrow_by_topic_feed_dates_and_score(seeded) -> None:
    _, log = seeded

    def shown(**kwargs) -> list[str]:
        return slugs(build_digest(log.engine, filters=Filters(**kwargs)))

    assert shown(feed="feed-b") == ["tianjin-meeting"]
    assert shown(feed="feed-a") == ["lavrov-jaishankar", "summit-preview"]
    assert shown(topic="another-topic") == []
    assert shown(min_score=0.6) == ["summit-preview", "tianjin-meeting"]
    assert shown(date_from=dt.date(2025, 11, 1)) == ["lavrov-jaishankar", "summit-preview"]
    assert shown(date_from=dt.date(2025, 11, 17), date_to=dt.date(2025, 11, 17)) == ["lavrov-jaishankar"]
    assert shown(date_to=dt.date(2025, 9, 30), feed="feed-a") == []
    with pytest.raises(ValueError, match="ends"):
        Filters(date_from=dt.date(2025, 12, 2), date_to=dt.date(2025, 12, 1))
    with pytest.raises(ValueError, match="status"):
        Filters(status="later")  # type: ignore[arg-type]


def test_the_views_rebuilt_from_the_log_equal_the_live_ones(seeded) -> None:
    _, log = seeded
    digest = build_digest(log.engine)
    mark_reviewed(log, digest.refs()[:1])
    mark_reviewed(log, digest.refs()[1:], source="digest")
    review_all(log)

    def state() -> tuple[list, list]:
        with log.engine.connect() as conn:
            return (sorted(map(tuple, conn.execute(select(reviewed_mentions)).all())),
                    list(map(tuple, conn.execute(select(review_cursor)).all())))

    live = state()
    assert len(live[0]) == 3
    projections(log).rebuild(["reviewed_mentions", "review_cursor"])
    assert state() == live


def test_the_cli_digest_marks_what_it_showed_with_the_same_event_as_the_page(seeded, capsys) -> None:
    config, log = seeded
    path = Path(config.source)
    path.write_text(f'[storage]\nurl = "{config.storage.url}"\nauto_migrate = true\n', encoding="utf-8")
    refs = build_digest(log.engine, filters=Filters(feed="feed-a")).refs()

    assert main(["--config", str(path), "digest", "--feed", "feed-a", "--format", "json", "--mark-reviewed"]) == 0
    assert "marked 2 mention(s) reviewed" in capsys.readouterr().err
    # The page marking the same items shown: the same event, so nothing more is recorded.
    assert mark_reviewed(log, refs, source="web") is False
    assert slugs(build_digest(log.engine)) == ["tianjin-meeting"]

    assert main(["--config", str(path), "review"]) == 0
    assert build_digest(log.engine).items == []
