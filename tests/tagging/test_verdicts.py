"""The analyst's verdicts (``review --reject/--accept``, ``MentionJudged``) against a real log built by polling a
local feed (127.0.0.1), on SQLite and on PostgreSQL when its URL is set.

A rejected tag leaves the digest, an accepted untagged article enters it as "accepted"; judging twice with the
same verdict records once, a different verdict supersedes; the mentions view rebuilt from the log equals the live
one; explain shows the verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.pipeline import Monitor
from tests.builders import cli, one_line
from tests.tagging.test_retag import TOPIC, count_events, polled  # noqa: F401 (the fixture)

ANNUAL = "Modi meets Putin in New Delhi for the annual summit"
KAZAN = "Modi and Putin convene in Kazan"


def article_ids(path: Path) -> dict[str, str]:
    """The polled articles' ids by title."""
    with Monitor(load_config(path)) as monitor:
        return {e.data["title"]: e.data["article_id"] for e in monitor.log.read(types=["ArticleDiscovered"])}


def digest_items(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> list[dict[str, Any]]:
    code, out, err = cli(capsys, "digest", "--status", "all", "--format", "json", *extra, config=path)
    assert code == 0, err
    return json.loads(out)["items"]


def mentions_rows(path: Path) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from monitor.views.tables import mentions
    with Monitor(load_config(path)) as monitor, monitor.log.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(mentions).order_by(mentions.c.article_id)).mappings()]


def test_a_rejected_mention_leaves_the_digest_and_explain_shows_the_verdict(
        polled: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    ids = article_ids(polled)
    assert [i["title"] for i in digest_items(capsys, polled)] == [ANNUAL]

    code, out, err = cli(capsys, "review", "--reject", ids[ANNUAL][:8], "--note", "a preview, no meeting",
                         config=polled)
    assert code == 0, err
    assert out.startswith(f"rejected {ids[ANNUAL]} for {TOPIC} (it was mention)")
    assert digest_items(capsys, polled) == []
    code, out, _ = cli(capsys, "digest", "--format", "json", config=polled)
    assert json.loads(out)["counts"]["unreviewed"] == 0

    code, out, _ = cli(capsys, "explain", ids[ANNUAL], "--format", "json", config=polled)
    recorded = json.loads(out)["recorded"][TOPIC]
    assert recorded["decision"] == "mention"  # the tag itself stays as the rules gave it
    assert recorded["verdict"] == "reject" and recorded["verdict_note"] == "a preview, no meeting"
    assert recorded["judged"]["decision"] == "mention"
    code, out, _ = cli(capsys, "explain", ids[ANNUAL], config=polled)
    assert "verdict: rejected by the analyst" in out and "note: a preview, no meeting" in out


def test_an_accepted_untagged_article_appears_as_accepted(polled: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    ids = article_ids(polled)
    code, out, err = cli(capsys, "review", "--accept", ids[KAZAN], config=polled)
    assert code == 0, err
    assert out.startswith(f"accepted {ids[KAZAN]} for {TOPIC} (it was none)")
    items = {i["title"]: i for i in digest_items(capsys, polled)}
    assert set(items) == {ANNUAL, KAZAN}
    assert items[KAZAN]["decision"] == "accepted" and items[KAZAN]["verdict"] == "accept"
    assert items[ANNUAL]["decision"] == "mention" and items[ANNUAL]["verdict"] is None
    # Dated by the verdict, it is new: the unreviewed digest shows it.
    unreviewed = digest_items(capsys, polled, "--status", "unreviewed")
    assert KAZAN in {i["title"] for i in unreviewed}


def test_judging_twice_records_once_and_a_different_verdict_supersedes(
        polled: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    ids = article_ids(polled)
    assert cli(capsys, "review", "--reject", ids[ANNUAL], config=polled)[0] == 0
    code, out, _ = cli(capsys, "review", "--reject", ids[ANNUAL], config=polled)
    assert code == 0 and "already rejected" in out
    assert count_events(polled)["MentionJudged"] == 1

    code, out, _ = cli(capsys, "review", "--accept", ids[ANNUAL], "--note", "it was a meeting", config=polled)
    assert code == 0 and "superseding reject" in out
    assert count_events(polled)["MentionJudged"] == 2
    assert [i["title"] for i in digest_items(capsys, polled)] == [ANNUAL]
    assert cli(capsys, "review", "--reject", ids[ANNUAL], config=polled)[0] == 0  # back again: a third event
    assert count_events(polled)["MentionJudged"] == 3
    assert digest_items(capsys, polled) == []


def test_the_rebuilt_mentions_view_equals_the_live_one_with_verdicts(
        polled: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    ids = article_ids(polled)
    assert cli(capsys, "review", "--reject", ids[ANNUAL], "--note", "n", config=polled)[0] == 0
    assert cli(capsys, "review", "--accept", ids[KAZAN], config=polled)[0] == 0
    live = mentions_rows(polled)
    assert {r["verdict"] for r in live} == {"reject", "accept"}
    code, _, err = cli(capsys, "rebuild", "mentions", config=polled)
    assert code == 0, err
    assert mentions_rows(polled) == live


def test_an_unknown_article_or_topic_exits_2_in_one_line(polled: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    ids = article_ids(polled)
    code, _, err = cli(capsys, "review", "--reject", "zzzzzzzz", config=polled)
    assert code == 2 and "no stored article matches 'zzzzzzzz'" in one_line(err)
    code, _, err = cli(capsys, "review", "--accept", ids[KAZAN], "--topic", "india-russia-sumit", config=polled)
    assert code == 2 and "did you mean 'india-russia-summit'?" in one_line(err)
    assert "MentionJudged" not in count_events(polled)
