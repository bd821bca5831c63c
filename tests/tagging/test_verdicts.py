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


# -- the loop: judge, tune, accept, retag ------------------------------------------------------------------

def test_reject_then_tune_proposes_then_accept_then_retag_retracts(
        polled: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    ids = article_ids(polled)
    original = polled.read_text(encoding="utf-8")
    assert cli(capsys, "review", "--reject", ids[ANNUAL], "--note", "a dinner, not talks", config=polled)[0] == 0
    before = count_events(polled)

    code, out, err = cli(capsys, "tune", "--topic", TOPIC, "--format", "json", config=polled)
    assert code == 0, err
    tuning = json.loads(out)
    assert tuning["verdicts"] == 1 and [u["article_id"] for u in tuning["unresolved"]] == [ids[ANNUAL]]
    assert tuning["proposals"] and tuning["written"] == []
    best = tuning["proposals"][0]
    assert best["article_id"] == ids[ANNUAL] and best["verdict"] == "reject"
    assert best["dry_run"]["judged_right"] == [ids[ANNUAL]] and best["dry_run"]["judged_wrong"] == []
    assert best["dry_run"]["removed"] >= 1
    for proposal in tuning["proposals"]:  # every proposal moves its own article the right way
        assert ids[ANNUAL] in proposal["dry_run"]["judged_right"]
    assert polled.read_text(encoding="utf-8") == original and count_events(polled) == before  # a dry run

    code, out, _ = cli(capsys, "tune", config=polled)  # text, the only topic by default
    assert code == 0 and f"rejected {ids[ANNUAL]} (now mention): {ANNUAL}" in out
    assert f"1. {best['description']}: retag dry run" in out and "Nothing written" in out
    assert polled.read_text(encoding="utf-8") == original

    code, out, err = cli(capsys, "tune", "--accept", config=polled)
    assert code == 0, err
    assert f"wrote: {best['description']}" in out and "news-monitor retag" in out
    edited = polled.read_text(encoding="utf-8")
    assert edited != original
    assert "# Phrases whose words count for no group." in edited  # the config's comments are kept
    assert load_config(polled) is not None  # and it is a valid config

    code, out, err = cli(capsys, "retag", "--format", "json", config=polled)
    assert code == 0, err
    done = json.loads(out)
    assert ("removed", ids[ANNUAL]) in {(c["change"], c["article_id"]) for c in done["changes"]}
    after = count_events(polled)
    assert after["MentionRetracted"] == before.get("MentionRetracted", 0) + 1
    assert digest_items(capsys, polled) == []

    code, out, _ = cli(capsys, "tune", "--format", "json", config=polled)  # the rules now agree with the verdict
    assert json.loads(out)["unresolved"] == [] and json.loads(out)["proposals"] == []


def test_an_accepted_article_gets_a_term_for_the_group_its_sentence_lacked(
        polled: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    ids = article_ids(polled)
    assert cli(capsys, "review", "--accept", ids[KAZAN], config=polled)[0] == 0
    code, out, err = cli(capsys, "tune", "--format", "json", config=polled)
    assert code == 0, err
    proposals = json.loads(out)["proposals"]
    assert proposals, out
    edits = [(p["edit"]["kind"], p["edit"]["group"], p["edit"]["value"]) for p in proposals]
    assert ("add_term", "meeting", "convene") in edits  # "Modi and Putin convene in Kazan" lacked a meeting word
    assert all(p["dry_run"]["judged_right"] == [ids[KAZAN]] for p in proposals)

    code, out, err = cli(capsys, "tune", "--accept", config=polled)
    assert code == 0, err
    code, out, err = cli(capsys, "retag", "--format", "json", config=polled)
    assert ("added", ids[KAZAN]) in {(c["change"], c["article_id"]) for c in json.loads(out)["changes"]}
    kazan = next(i for i in digest_items(capsys, polled) if i["title"] == KAZAN)
    assert kazan["decision"] == "mention" and kazan["verdict"] == "accept"  # tagged now, the verdict kept


def test_two_writers_judging_the_same_state_record_one_verdict(polled: Path) -> None:  # noqa: F811
    """Two workers (or a double click) that read the same state append the same key: one event."""
    import datetime as dt

    from monitor.events import catalogue as ev

    ids = article_ids(polled)
    at = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
    data = {"decision": "mention", "note": None, "topic_version": None, "position": 0, "source": "api"}
    with Monitor(load_config(polled)) as monitor:
        first = monitor.log.append([ev.mention_judged(ids[ANNUAL], TOPIC, "reject", at, data)])
        second = monitor.log.append([ev.mention_judged(ids[ANNUAL], TOPIC, "reject", at, data)])
        assert len(first.recorded) == 1 and len(second.recorded) == 0
        [event] = list(monitor.log.read(types=["MentionJudged"]))
        assert event.occurred_at == at and event.recorded_at >= at  # dated twice: judged, then recorded
    with pytest.raises(ValueError, match="a verdict is one of reject, accept"):
        ev.mention_judged(ids[ANNUAL], TOPIC, "maybe", at, data)


def test_review_keeps_its_old_form_and_refuses_mixed_options(polled: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    ids = article_ids(polled)
    code, out, _ = cli(capsys, "review", config=polled)
    assert code == 0 and out.startswith("marked 1 mention reviewed (everything up to position ")
    code, _, err = cli(capsys, "review", "--note", "why", config=polled)
    assert code == 2 and "only with --reject or --accept" in one_line(err)
    code, _, err = cli(capsys, "review", "--reject", ids[ANNUAL], "--accept", ids[KAZAN], config=polled)
    assert code == 2 and "not both" in one_line(err)
    assert "MentionJudged" not in count_events(polled)


def test_tune_proposes_removing_the_term_that_made_a_wrong_tag_and_writes_it_keeping_comments(
        polled: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    from monitor.tagging.tune import propose, write
    from tests.tagging.test_retag import edit_topic

    ids = article_ids(polled)
    edit_topic(polled, lambda topic: topic["keywords"]["meeting"].append("convene"))
    assert cli(capsys, "retag", config=polled)[0] == 0  # "Modi and Putin convene in Kazan" is tagged now
    assert cli(capsys, "review", "--reject", ids[KAZAN], config=polled)[0] == 0
    config = load_config(polled)
    with Monitor(config) as monitor:
        tuning = propose(config, monitor.log, TOPIC, background=monitor.background_texts())
    by_edit = {(p.edit.kind, p.edit.group, p.edit.value): p for p in tuning.proposals}
    removal = by_edit[("remove_term", "meeting", "convene")]
    assert removal.right == [ids[KAZAN]] and removal.wrong == []
    assert (removal.added, removal.removed) == (0, 1)  # only the rejected article loses its tag
    assert [c.article_id for c in removal.changes] == [ids[KAZAN]]

    comments = [line for line in polled.read_text(encoding="utf-8").splitlines() if line.lstrip().startswith("#")]
    assert len(comments) > 10  # the shipped config's comments
    assert write(polled, TOPIC, [removal]) == [removal]
    text = polled.read_text(encoding="utf-8")
    assert "convene" not in text
    assert [line for line in text.splitlines() if line.lstrip().startswith("#")] == comments
    code, out, _ = cli(capsys, "retag", "--format", "json", config=polled)
    assert [(c["change"], c["article_id"]) for c in json.loads(out)["changes"]] == [("removed", ids[KAZAN])]
