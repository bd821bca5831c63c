"""An item's evidence, shortest path first: the sentences that count before those that do not, the best one to
three shown and the rest folded, each that does not count marked as what it is.

A sentence *counts* unless the tagger marked it ``history`` (a past meeting: "The last Summit was held on July
8-9, 2024") or ``context`` (background that names the topic: a forum, a date, a side). Among those that count,
the one that matched more of the topic's keyword groups comes first (it says more of who met whom and why),
then the earlier in the article. The page, the digests and ``explain`` label the others the same way.
"""

from __future__ import annotations

from typing import Any

SHOWN = 3


def label(sentence: dict[str, Any]) -> str | None:
    """ "history" or "context" for a sentence that does not count; None for one that does."""
    if sentence.get("history"):
        return "history"
    if sentence.get("context"):
        return "context"
    return None


def ranked(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The item's sentences, best first, each ``{text, terms, label, dates}``. An item recorded without
    evidence (before the tagger kept it) has its plain sentences, in order, all counting."""
    evidence = [e for e in item.get("evidence") or [] if isinstance(e, dict) and e.get("text")]
    if not evidence:
        return [{"text": s, "terms": item.get("terms") or [], "label": None, "dates": []}
                for s in item.get("sentences") or [] if s]
    order = sorted(range(len(evidence)), key=lambda i: (label(evidence[i]) is not None,
                                                         -len(evidence[i].get("groups") or ()), i))
    return [{"text": evidence[i]["text"], "terms": evidence[i].get("terms") or item.get("terms") or [],
             "label": label(evidence[i]), "dates": evidence[i].get("dates") or []} for i in order]


def best_and_rest(item: dict[str, Any], shown: int = SHOWN) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The sentences to show (at most ``shown``, those that count first) and those to fold."""
    sentences = ranked(item)
    return sentences[:shown], sentences[shown:]


def marked(sentence: dict[str, Any]) -> str:
    """The sentence's text, with "(history) " or "(context) " before it when it does not count."""
    return f"({sentence['label']}) {sentence['text']}" if sentence.get("label") else str(sentence["text"])


__all__ = ["SHOWN", "best_and_rest", "label", "marked", "ranked"]
