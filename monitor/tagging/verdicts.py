"""The analyst's verdict on a stored article, named as ``explain`` names it (its id, a unique id prefix or its
URL) for one of the config's topics: the CLI's ``review --reject/--accept`` and the review page's buttons.

The verdict itself is recorded by ``monitor.views.verdicts.judge``; this module finds what it is about.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from monitor.config import Config
from monitor.config.lines import suggest
from monitor.errors import MonitorError
from monitor.tagging.retag import find_article
from monitor.views.verdicts import Judgement, judge
from storage.eventlog import EventLog


class UnknownTopic(MonitorError):
    """A topic the config does not have, or none given where the config has several."""


def resolve_topic(config: Config, topic: str | None) -> str:
    """``topic``, checked against the config; None means the only topic there is."""
    known = [t.id for t in config.topics]
    if topic is None:
        if len(known) == 1:
            return known[0]
        raise UnknownTopic(f"the config has {len(known)} topics ({', '.join(known) or 'none'}): say which")
    if topic not in known:
        raise UnknownTopic(f"no topic {topic!r} in the config{suggest(topic, known)} (topics: {', '.join(known)})")
    return topic


@dataclass(frozen=True)
class Verdict:
    judgement: Judgement
    article: dict[str, Any]  # the articles view's row (without its text)


def judge_article(config: Config, log: EventLog, ref: str, verdict: str, *, topic: str | None = None,
                  note: str | None = None, source: str = "cli",
                  clock: Callable[[], dt.datetime] | None = None) -> Verdict:
    """Record ``verdict`` ("reject" or "accept") on the article ``ref`` names. ArticleNotFound or
    UnknownTopic when either is not known; the topic is checked first (it needs no database)."""
    topic_id = resolve_topic(config, topic)
    row = find_article(log, ref)
    judgement = judge(log, row["article_id"], topic_id, verdict, note=note, source=source, clock=clock)
    return Verdict(judgement, {k: v for k, v in row.items() if k != "text"})
