"""The analyst's verdicts: "reject" a tag that is wrong, "accept" an article the tagger missed.

A verdict is a ``MentionJudged`` event in the article's stream, carrying what was judged (the tag's decision,
topic version and position at the time). The mentions view keeps the newest verdict beside the tag, across
retags: a rejected tag leaves every digest, an accepted article enters it (decision "accepted"). Judging the
same article and topic again with the verdict it already has records nothing; a different verdict supersedes
the one before (its key names that verdict's position).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from monitor.events import catalogue as ev
from monitor.views import queries
from monitor.views.log import projections
from storage.engine import reading
from storage.eventlog import EventLog, utcnow


@dataclass(frozen=True)
class Judgement:
    article_id: str
    topic: str
    verdict: str
    decision: str  # the tag's decision when judged: mention, possible, none, retracted
    recorded: bool  # False: the article already had this verdict
    previous: str | None  # the verdict it superseded, if any


def judge(log: EventLog, article_id: str, topic: str, verdict: str, *, note: str | None = None,
          source: str = "cli", clock: Callable[[], dt.datetime] | None = None) -> Judgement:
    """Record ``verdict`` ("reject" or "accept") on ``article_id`` for ``topic`` and bring the mentions view up
    to date. The caller has checked that the article and topic exist."""
    views = projections(log)
    views.catch_up(["mentions"])
    with reading(log.engine) as conn:
        state = queries.mention_state(conn, article_id, topic)
    decision = (state or {}).get("decision") or "none"
    previous = (state or {}).get("verdict")
    if previous == verdict:
        return Judgement(article_id, topic, verdict, decision, False, previous)
    event = ev.mention_judged(article_id, topic, verdict, (clock or utcnow)(), {
        "note": note or None, "decision": decision, "topic_version": (state or {}).get("topic_version"),
        "position": (state or {}).get("position") or 0, "source": source,
    }, supersedes=(state or {}).get("verdict_position") or 0)
    result = log.append([event])
    views.catch_up(["mentions"])
    return Judgement(article_id, topic, verdict, decision, bool(result.recorded), previous)
