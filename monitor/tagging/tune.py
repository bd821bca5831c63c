"""``news-monitor tune``: config changes proposed from the analyst's verdicts, each shown with its effect.

For a **rejected** mention the current rules still give, the sentence that made the match is taken apart:
- an exclusion (a phrase of the sentence around a matched term: its words then count for no group);
- a term whose removal from its keyword group would untag it;
- a word of the sentence added to ``third_party`` (a group the rule blocks on), when the topic has one.

For an **accepted** article the rules do not tag, the sentence that nearly matched is the one where adding a
single keyword group makes the rule hold (``evaluate`` over the groups found there); its other words are tried
as terms of that missing group.

Every candidate is a variant of the config, tagged by a ``Tagger`` of its own and planned with
``monitor.tagging.retag.plan`` over every stored article (a dry run: nothing is written), so its effect is
what ``retag`` would record: tags added, removed and changed, and which judged articles change the right way
(a rejected one untagged, an accepted one tagged) or the wrong way. Candidates that do not move their own
article are dropped; the others are ranked by wrong moves, then by collateral changes. Writing goes through
``monitor.config.edit`` (comments kept, validated before the file is replaced), so the daemon's hot reload
picks it up; ``news-monitor retag`` then records the new tags. Articles and verdicts are read through
``monitor.views.queries`` only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tomlkit

from monitor.config import Config, RuleNode, TopicSettings
from monitor.config.edit import add_keywords, edit_config, remove_keywords
from monitor.errors import ConfigError
from monitor.language.text import fold
from monitor.language.tfidf import english_stop_words
from monitor.tagging.retag import Change, plan, stored_articles
from monitor.tagging.rules import Tagger, TopicResult, evaluate
from monitor.views import queries
from storage.engine import reading
from storage.eventlog import EventLog

THIRD_PARTY = "third_party"
MAX_CANDIDATES = 8  # per judged article: each is a full retag dry run
_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)


@dataclass(frozen=True)
class Edit:
    """One change to a topic's config: ``add_term`` / ``remove_term`` (``group``, ``value``) or ``add_exclusion``."""

    kind: str
    value: str
    group: str | None = None

    def describe(self) -> str:
        if self.kind == "add_exclusion":
            return f"add exclusion {self.value!r}"
        verb = "add" if self.kind == "add_term" else "remove"
        return f"{verb} {self.value!r} {'to' if self.kind == 'add_term' else 'from'} keyword group {self.group}"

    def apply(self, topic: TopicSettings) -> TopicSettings:
        if self.kind == "add_exclusion":
            return topic.model_copy(update={"exclusions": [*topic.exclusions, self.value]})
        keywords = {g: list(labels) for g, labels in topic.keywords.items()}
        assert self.group is not None
        if self.kind == "add_term":
            keywords[self.group] = [*keywords[self.group], self.value]
        else:
            keywords[self.group] = [t for t in keywords[self.group] if fold(t) != fold(self.value)]
        return topic.model_copy(update={"keywords": keywords})


@dataclass
class Proposal:
    article_id: str
    verdict: str  # what the proposal answers: the reject or the accept of this article
    title: str
    edit: Edit
    added: int
    removed: int
    changed: int
    right: list[str]  # judged articles that change as their verdict asks
    wrong: list[str]  # judged articles that change against their verdict
    changes: list[Change] = field(repr=False, default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"article_id": self.article_id, "verdict": self.verdict, "title": self.title,
                "edit": {"kind": self.edit.kind, "value": self.edit.value, "group": self.edit.group},
                "description": self.edit.describe(),
                "dry_run": {"added": self.added, "removed": self.removed, "changed": self.changed,
                            "judged_right": self.right, "judged_wrong": self.wrong}}


@dataclass
class Tuning:
    topic: str
    verdicts: int  # judged articles of the topic
    unresolved: list[dict[str, Any]]  # those the current rules still get wrong
    proposals: list[Proposal]  # per unresolved article, best first

    def best(self) -> list[Proposal]:
        """The first proposal of each article: what ``--accept`` writes."""
        seen: set[str] = set()
        out = []
        for proposal in self.proposals:
            if proposal.article_id not in seen:
                seen.add(proposal.article_id)
                out.append(proposal)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "verdicts": self.verdicts,
                "unresolved": [{k: v for k, v in u.items() if k != "text"} for u in self.unresolved],
                "proposals": [p.as_dict() for p in self.proposals]}


def _variant(config: Config, topic: str, edit: Edit) -> Config:
    topics = [edit.apply(t) if t.id == topic else t for t in config.topics]
    return config.model_copy(update={"topics": topics})


def _blocking_groups(rule: RuleNode, negated: bool = False) -> set[str]:
    """The groups the rule names under a NOT: finding one of them stops a match."""
    if isinstance(rule, str):
        return {rule} if negated else set()
    if rule.not_ is not None:
        return _blocking_groups(rule.not_, not negated)
    return set().union(*(_blocking_groups(r, negated) for r in (rule.all or rule.any or [])))


def _counting(result: TopicResult) -> list[dict[str, Any]]:
    return [e for e in result.evidence if not e.get("history") and not e.get("context")]


def _words(sentence: str) -> list[str]:
    return [m.group(0) for m in _WORD.finditer(sentence)]


def _content(word: str, known: set[str]) -> bool:
    return len(word) >= 4 and fold(word) not in english_stop_words() and fold(word) not in known


def _reject_candidates(topic: TopicSettings, result: TopicResult) -> list[Edit]:
    """Edits that may untag a wrong tag: exclusions around its matched terms, removals of those terms, and
    words of the sentence as third parties."""
    labels = {fold(label): (group, label) for group, terms in topic.keywords.items() for label in terms}
    known = set(labels)
    edits: list[Edit] = []
    for evidence in _counting(result):
        words = _words(evidence["text"])
        folded = [fold(w) for w in words]
        for term in evidence.get("terms") or []:
            first = fold(term.rstrip("*")).split()
            if not first:
                continue
            at = next((i for i, w in enumerate(folded) if w.startswith(first[0])), None)
            if at is None:
                continue
            span = len(first)
            # The term with the content word beside it ("annual summit", "security adviser"): a phrase that
            # names this context, not the term alone (which removing it does better) nor "Putin in".
            if at + span < len(words) and _content(words[at + span], set()):
                edits.append(Edit("add_exclusion", " ".join(words[at:at + span + 1])))
            if at > 0 and _content(words[at - 1], set()):
                edits.append(Edit("add_exclusion", " ".join(words[at - 1:at + span])))
        for term in evidence.get("terms") or []:
            if fold(term) in labels:
                group, label = labels[fold(term)]
                edits.append(Edit("remove_term", label, group))
        if THIRD_PARTY in topic.keywords:
            edits.extend(Edit("add_term", w, THIRD_PARTY) for i, w in enumerate(words)
                         if i > 0 and w[:1].isupper() and _content(w, known))
    return list(dict.fromkeys(edits))[:MAX_CANDIDATES]


def _accept_candidates(topic: TopicSettings, tagger: Tagger, title: str, text: str) -> list[Edit]:
    """Words of the sentence that nearly matched, as terms of the group it lacked."""
    from monitor.language.text import sentences

    rule = topic.effective_rule()
    blocking = _blocking_groups(rule)
    known = {fold(label) for terms in topic.keywords.values() for label in terms}
    units = [title] + [text[s.start:s.end] for s in sentences(text)] if text else [title]
    edits: list[Edit] = []
    for unit in units:
        if not unit.strip():
            continue
        present = set(tagger.tag("", unit)[topic.id].groups)
        missing = [g for g in topic.keywords if g not in present and g not in blocking
                   and evaluate(rule, present | {g})]
        for group in missing:
            edits.extend(Edit("add_term", w, group) for w in _words(unit) if _content(w, known))
    return list(dict.fromkeys(edits))[:MAX_CANDIDATES]


def _effect(config: Config, log: EventLog, topic: str, edit: Edit, background: list[str],
            judged: dict[str, str]) -> tuple[list[Change], list[str], list[str]]:
    variant = _variant(config, topic, edit)
    changes = plan(variant, log, Tagger(variant, background=background), topic=topic)
    right, wrong = [], []
    for change in changes:
        verdict = judged.get(change.article_id)
        if verdict is None:
            continue
        tagged = change.after in ("mention", "possible")
        untagged = change.kind == "removed"
        if (verdict == "reject" and untagged) or (verdict == "accept" and tagged and change.kind == "added"):
            right.append(change.article_id)
        elif (verdict == "accept" and untagged) or (verdict == "reject" and change.kind == "added"):
            wrong.append(change.article_id)
    return changes, right, wrong


def propose(config: Config, log: EventLog, topic: str, *, background: list[str] | None = None,
            tagger: Tagger | None = None) -> Tuning:
    """The proposals for ``topic`` (checked by the caller), best first per judged article; nothing is written."""
    settings = next(t for t in config.topics if t.id == topic)
    tagger = tagger or Tagger(config, background=background)
    with reading(log.engine) as conn:
        judged_rows = queries.judged_mentions(conn, topic)
    judged = {row["article_id"]: row["verdict"] for row in judged_rows}
    texts = {a.article_id: a for a in stored_articles(log) if a.article_id in judged}
    unresolved, proposals = [], []
    for row in judged_rows:
        article = texts.get(row["article_id"])
        if article is None:
            continue  # judged, but no text was ever extracted: nothing to learn from
        now = tagger.tag(article.title, article.text, article.published_at)[topic]
        tagged = now.decision in ("mention", "possible")
        if (row["verdict"] == "reject") != tagged:
            continue  # the rules as they are already agree with the analyst
        unresolved.append({"article_id": article.article_id, "verdict": row["verdict"], "title": article.title,
                           "decision": now.decision, "note": row["verdict_note"]})
        edits = (_reject_candidates(settings, now) if row["verdict"] == "reject"
                 else _accept_candidates(settings, tagger, article.title, article.text))
        found = []
        for edit in edits:
            changes, right, wrong = _effect(config, log, topic, edit, background or [], judged)
            if article.article_id not in right:
                continue
            counts = {kind: sum(1 for c in changes if c.kind == kind) for kind in ("added", "removed", "changed")}
            found.append(Proposal(article.article_id, row["verdict"], article.title, edit, counts["added"],
                                  counts["removed"], counts["changed"], right, wrong, changes))
        found.sort(key=lambda p: (len(p.wrong), -len(p.right), p.added + p.removed + p.changed,
                                  p.edit.kind != "add_exclusion"))
        proposals.extend(found)
    return Tuning(topic, len(judged_rows), unresolved, proposals)


def write(path: str | os.PathLike[str] | None, topic: str, proposals: list[Proposal],
          confirm: Callable[[Proposal], bool] = lambda _: True) -> list[Proposal]:
    """Write the ``proposals`` that ``confirm`` accepts to the config file, each through the comment-keeping
    editor (validated before the file is replaced); return those written."""
    written = []
    for proposal in proposals:
        if not confirm(proposal):
            continue
        edit = proposal.edit
        if edit.kind == "add_term":
            add_keywords(path, topic, edit.group or "", [edit.value])
        elif edit.kind == "remove_term":
            remove_keywords(path, topic, edit.group or "", [edit.value])
        else:
            edit_config(path, lambda document, value=edit.value: _add_exclusion(document, topic, value))
        written.append(proposal)
    return written


def _add_exclusion(document: tomlkit.TOMLDocument, topic: str, value: str) -> None:
    for table in document.get("topics") or []:
        if isinstance(table, dict) and table.get("id") == topic:
            if "exclusions" not in table:
                table["exclusions"] = tomlkit.array()
            if fold(value) not in {fold(str(v)) for v in table["exclusions"]}:
                table["exclusions"].append(value)
            return
    raise ConfigError(f"no topic {topic!r} in the config file")
