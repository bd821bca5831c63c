"""Tag articles against watched topics, and say why.

A topic matches in a *unit* (the title, or one sentence of the text; or a window of N words when the
topic sets ``proximity = N``) when its rule holds over the keyword groups found there. For the
India–Russia summit: an India-side term, a Russia-side term and a meeting word in the same sentence.

Exclusions ("Indian Ocean", "meeting ... demand*") mask the words they match: those count for no group.

The score combines two parts, both reported:
- the rule part, from the topic's ``field_weights``: by default 1.0 when the title matches, 0.7 for the
  first matching sentence of the text, +0.1 for each further one (capped at 1); 0.3 (``scattered``)
  when the groups all occur in the article but never together in one unit. A sentence that only looks
  back (every date it names ended over ``history_days`` before publication) is shown as evidence,
  marked ``history``, but does not count;
- the similarity part: the highest TF-IDF cosine similarity to the topic's reference documents, scaled
  so that 0.3 counts as full similarity. The word weights (IDF) are learnt from the references'
  paragraphs plus a background of up to ``similarity_background`` articles seen so far, so that words
  every article uses weigh little.

``score = (1 - similarity_weight) * rule + similarity_weight * similarity``, and the decision is
``mention`` at or above ``threshold``, ``possible`` at or above ``possible_threshold``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from monitor.config import Config, TopicSettings
from monitor.language.detect import Detector
from monitor.language.text import (
    WORD_MARKS,
    Span,
    Term,
    TermHit,
    TermIndex,
    Token,
    fold,
    sentences,
    tokens,
    without_excluded,
)
from monitor.tagging.dates import find_dates
from monitor.tagging.logic import could_hold, describe, evaluate, negated_groups, positive_groups
from monitor.tagging.participants import THIRD_COUNTRY, THIRD_PARTY, Finder, Names, Participants
from monitor.tagging.similarity import ReferenceIndex

SIMILARITY_SATURATION = 0.3
MAX_CLAUSES = 24  # a sentence's clauses read alone, at most (the rest is one last clause)
MAX_BLOCKED = 5  # sentences reported per article that the rule's exclusions kept from counting
_CLAUSE_BREAK = re.compile(r"[,;:]\s")
_BETWEEN = frozenset({"between", "между"})
# Words that open a clause telling the circumstances of another event, not the event the sentence reports.
_SUBORDINATE = frozenset({
    "before", "after", "following", "ahead", "since", "during", "unlike", "like", "despite", "while", "when",
    "as", "until", "amid", "days", "weeks", "months", "перед", "после", "накануне", "до", "пока", "когда",
    "хотя", "несмотря",
})
TITLE_FIELD, TEXT_FIELD = "title", "text"


@dataclass
class TopicResult:
    topic: str
    topic_version: str
    mention: bool
    decision: str
    score: float
    rule: str
    rule_score: float
    similarity: dict[str, float]
    evidence: list[dict[str, Any]] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)
    language: str | None = None  # the article's, detected (en, ru, hi), or None when it has no letters
    # Sentences where the rule held but for a group it excludes (third_country, phone_call, multilateral),
    # with those groups ("by") and the participants found: why a near-miss is not a mention.
    blocked: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sentences(self) -> list[str]:
        return [e["text"] for e in self.evidence]

    @property
    def dates(self) -> list[dict[str, Any]]:
        seen: dict[tuple[str, str], dict[str, Any]] = {}
        for item in self.evidence:
            for ref in item["dates"]:
                seen.setdefault((ref["date"], ref["end_date"]), ref)
        return list(seen.values())

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by ``tag`` and stored in ``MentionTagged``."""
        return {
            "mention": self.mention, "decision": self.decision, "score": self.score,
            "sentences": self.sentences, "terms": self.terms, "evidence": self.evidence,
            "dates": self.dates, "rule": self.rule, "rule_score": self.rule_score,
            "groups": self.groups, "similarity": self.similarity, "topic_version": self.topic_version,
            "language": self.language, "blocked": self.blocked,
        }


def _any_term(screens: list[tuple[str, bool]]) -> re.Pattern[str] | None:
    """One regex for the screens of many terms: (pattern, whether it may continue as a longer word)."""
    whole = sorted({text for text, longer in screens if not longer})
    starts = sorted({text for text, longer in screens if longer})
    alternatives = ([r"(?:" + "|".join(whole) + r")(?![\w" + WORD_MARKS + "])"] if whole else []) \
        + ([r"(?:" + "|".join(starts) + ")"] if starts else [])
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + ")") if alternatives else None


def _group_screens(terms: list[Term]) -> dict[str, re.Pattern[str]]:
    """Per group, one regex for the longest word of each of its terms, at a word start."""
    longest: dict[str, set[str]] = {}
    for term in terms:
        longest.setdefault(term.group, set()).update(text for text, _ in term.screens())
    return {group: re.compile(r"(?<!\w)(?:" + "|".join(sorted(words)) + ")") for group, words in longest.items()}


# Letters of the scripts that have their own terms (Cyrillic, Devanagari): text without any is screened by the
# Latin terms alone.
_NON_LATIN = re.compile("[\u0400-\u052f\u0900-\u097f]")


class CompiledTopic:
    def __init__(self, config: Config, topic: TopicSettings, background: list[str] | None = None) -> None:
        self.settings = topic
        self.id = topic.id
        self.version = config.topic_version(topic)
        self.rule = topic.effective_rule()
        self.rule_text = describe(self.rule)
        self.context_rule = topic.context_rule
        terms = [t for group, labels in topic.keywords.items() for label in labels
                 if (t := Term.compile(group, label)) is not None]
        self.index = TermIndex(terms)
        self.participants = Finder(topic)
        self.history_markers = TermIndex([t for label in topic.history_markers
                                          if (t := Term.compile("history", label)) is not None])
        self.exclusions = TermIndex([t for label in topic.exclusions
                                     if (t := Term.compile("exclusion", label)) is not None])
        self.references = ReferenceIndex.build(config.reference_paths(topic),
                                               (background or [])[-topic.similarity_background:]
                                               if topic.similarity_background else [])
        # Per group, a pattern that finds every place one of its terms could be (its longest word at a word
        # start; more than the tokens match, never less): a document where the rule cannot hold is known at
        # the cost of a few searches, before any sentence is split or tokenised.
        self.screens = _group_screens(terms)
        # The same for text in Latin script only: the Latin terms' alone (a group without any is not there).
        self.latin_screens = _group_screens([t for t in terms if t.language == "en"])
        # Any term of a group that can make the rule (or the context rule) hold, a whole word (or the start of
        # one, for "meet*" and inflected Russian and Hindi words): a sentence where this finds nothing cannot
        # be evidence, and is not tokenised. Groups named only under a NOT (third_party) and the titles that
        # participants are read from do not open a sentence on their own.
        opening = positive_groups(self.rule) | positive_groups(self.context_rule)
        self.negated = negated_groups(self.rule)
        screened = [t for t in terms if t.group in opening]
        self.any_term = _any_term([screen for t in screened for screen in t.screens()])
        # The same, for text in Latin script only (most articles): a third of the alternatives, twice as fast.
        self.any_latin_term = _any_term([screen for t in screened if t.language == "en" for screen in t.screens()])
        self.languages = sorted({t.language for t in terms} | {"en"})

    def _screen(self, folded: str) -> re.Pattern[str] | None:
        """The any-term screen for a folded text: the Latin terms' alone when it has no Cyrillic or Devanagari."""
        return self.any_term if _NON_LATIN.search(folded) else self.any_latin_term

    def may_match(self, title: str, text: str) -> bool:
        """False when no part of the document can satisfy the rule (so its rule part is 0)."""
        folded = fold(f"{title}\n{text}")
        screens = self.screens if _NON_LATIN.search(folded) else self.latin_screens
        return could_hold(self.rule, {group for group, screen in screens.items() if screen.search(folded)})

    def units(self, title: str, text: str, folded_text: str | None = None) -> list[tuple[str, Span]]:
        """The title and the sentences of the text, with offsets. With ``folded_text`` (``fold(text)``), lines
        where no term of the topic occurs are left out unsplit: sentences never cross a line break."""
        out: list[tuple[str, Span]] = []
        if title.strip():
            lead = len(title) - len(title.lstrip())  # offsets index the title as given
            out.append((TITLE_FIELD, Span(title.strip(), lead, lead + len(title.strip()))))
        # Feeds and extractors often repeat the headline as the first line of the text.
        first_line = text.lstrip().split("\n", 1)[0].strip()
        skip_first = bool(title.strip()) and first_line == title.strip()
        first = True  # the text's first sentence is yet to come
        offset = 0
        any_term = self._screen(folded_text) if folded_text is not None else None
        for line in text.split("\n"):
            start, offset = offset, offset + len(line) + 1
            if not line.strip():
                continue
            if folded_text is not None and (any_term is None
                                            or not any_term.search(folded_text, start, start + len(line))):
                first = False
                continue
            for span in sentences(line):
                if skip_first and first and span.text == first_line:
                    first = False
                    continue
                first = False
                out.append((TEXT_FIELD, Span(span.text, span.start + start, span.end + start)))
        return out

    def tag(self, title: str, text: str, published: dt.date | None, *, skip_hopeless: bool = False,
            language: str | None = None, detector: Detector | None = None) -> TopicResult:
        """``skip_hopeless``: when the rule part is so low that no similarity could lift the score to
        ``possible``, return the decision "none" without computing the similarity (most articles of a
        busy feed name no term of the topic; the pipeline records nothing for them anyway)."""
        weight = self.settings.similarity_weight if self.references.names else 0.0
        if skip_hopeless and weight < self.settings.possible_threshold and not self.may_match(title, text):
            return TopicResult(topic=self.id, topic_version=self.version, mention=False, decision="none",
                               score=0.0, rule=self.rule_text, rule_score=0.0, similarity={}, language=language)
        groups_in_doc: dict[str, set[str]] = {}
        evidence: list[dict[str, Any]] = []
        names: Names = {}  # who the article's titles introduced: "Indian Prime Minister Manmohan Singh"
        blocked: list[dict[str, Any]] = []  # sentences where the rule held but for what it excludes
        folded = {TITLE_FIELD: fold(title), TEXT_FIELD: fold(text)}  # one character per character: sliceable
        screens = {name: self._screen(value) for name, value in folded.items()}
        for field_name, span in self.units(title, text, folded[TEXT_FIELD]):
            folded_span = folded[field_name][span.start:span.end]
            any_term = screens[field_name]
            if any_term is None or not any_term.search(folded_span):
                continue
            toks = tokens(span.text, folded_span)
            hits = self.index.find(toks)
            if hits and not self.exclusions.empty:
                hits = without_excluded(hits, self.exclusions.find(toks))
            raw_hits = hits
            found = self.participants.read(toks, hits, span.text, names)
            hits = found.hits
            for hit in hits:
                groups_in_doc.setdefault(hit.term.group, set()).add(hit.term.label)
            for group in found.groups:
                groups_in_doc.setdefault(group, set())
            matched = self._matching_hits(hits, found.groups)
            clause = None
            if matched is None and THIRD_COUNTRY in found.groups and evaluate(self.rule, (
                    {h.term.group for h in hits if h.term.group != THIRD_PARTY} | found.groups) - {THIRD_COUNTRY}):
                clause, matched, found = self._clause_match(toks, raw_hits, span.text, names)
            context = False
            if matched is None:
                if self.context_rule is None or not hits or field_name != TEXT_FIELD \
                        or not evaluate(self.context_rule, {h.term.group for h in hits} | found.groups):
                    present = {h.term.group for h in hits} | found.groups
                    if len(blocked) < MAX_BLOCKED and could_hold(self.rule, present):
                        blocked.append({"field": field_name, "text": span.text, "start": span.start,
                                        "end": span.end, "by": sorted(present & self.negated),
                                        "participants": found.found})
                    continue
                matched, context = hits, True
            dates = find_dates(span.text, published)
            evidence.append({
                "field": field_name, "text": span.text, "start": span.start, "end": span.end,
                "terms": sorted({h.term.label for h in matched}),
                "groups": sorted({h.term.group for h in matched} | found.groups),
                "participants": found.found,
                "clause": clause,
                "dates": [d.as_dict() for d in dates],
                "history": self._looks_back(dates, published) or bool(self.history_markers.find(toks)),
                "context": context,
                "language": detector.detect(span.text) if detector is not None else language,
                "closest_reference": None,
            })
        if all(item["context"] for item in evidence):
            evidence = []  # context sentences only speak of the topic in an article that names it
        rule_score = self._rule_score(evidence, set(groups_in_doc))
        if skip_hopeless and (1 - weight) * rule_score + weight < self.settings.possible_threshold:
            return TopicResult(
                topic=self.id, topic_version=self.version, mention=False, decision="none",
                score=round((1 - weight) * rule_score, 4), rule=self.rule_text, rule_score=round(rule_score, 4),
                similarity={}, groups={g: sorted(labels) for g, labels in sorted(groups_in_doc.items())},
                language=language)
        # One transform for the whole article and its evidence sentences: each call has a fixed cost.
        scores = self.references.similarity([f"{title}\n{text}", *(e["text"] for e in evidence)])
        similarity, per_sentence = scores[0], scores[1:]
        best = max(similarity.values(), default=0.0)
        score = round((1 - weight) * rule_score + weight * min(1.0, best / SIMILARITY_SATURATION), 4)
        if evidence and self.references.names:
            for item, sims in zip(evidence, per_sentence, strict=True):
                name, value = max(sims.items(), key=lambda kv: kv[1])
                item["closest_reference"] = {"document": name, "similarity": value}
        if score >= self.settings.threshold:
            decision = "mention"
        elif score >= self.settings.possible_threshold:
            decision = "possible"
        else:
            decision = "none"
        return TopicResult(
            topic=self.id, topic_version=self.version, mention=decision == "mention", decision=decision,
            score=score, rule=self.rule_text, rule_score=round(rule_score, 4), similarity=similarity,
            evidence=evidence, terms=sorted({t for e in evidence for t in e["terms"]}),
            groups={g: sorted(labels) for g, labels in sorted(groups_in_doc.items())}, language=language,
            blocked=blocked,
        )

    def _looks_back(self, dates: list[Any], published: dt.date | None) -> bool:
        """Whether every date a sentence names ended more than ``history_days`` before publication."""
        days = self.settings.history_days
        if not days or published is None or not dates:
            return False
        horizon = published - dt.timedelta(days=days)
        return all(ref.end_date < horizon for ref in dates)

    def _rule_score(self, evidence: list[dict[str, Any]], groups_in_doc: set[str]) -> float:
        weights = self.settings.field_weights
        current = [e for e in evidence if not e["history"] and not e["context"]]
        body_hits = sum(1 for e in current if e["field"] == TEXT_FIELD)
        if current:
            lead = max(weights.title if any(e["field"] == TITLE_FIELD for e in current) else 0.0,
                       weights.text if body_hits else 0.0)
            return min(1.0, lead + weights.further_text * max(0, body_hits - 1))
        if any(not e["context"] for e in evidence) or evaluate(self.rule, groups_in_doc):
            return weights.scattered
        return 0.0

    def _clause_match(self, toks: list[Token], hits: list[TermHit], text: str,
                      names: Names) -> tuple[str | None, list[TermHit] | None, Participants]:
        """A sentence that names a third party may still report the meeting in one of its clauses: "Following
        his informal meeting with Chinese President Xi Jinping last month, Prime Minister Narendra Modi on
        Monday met Russian President Vladimir Putin in Sochi". Each clause (between commas, semicolons and
        colons, four words or more, not opened by "before", "after", "following" and the like) is read on its
        own, participants included, and so is what follows "a meeting between"; the first where the rule holds
        counts, and is named in the evidence."""
        cuts = [0, *(m.end() for m in itertools.islice(_CLAUSE_BREAK.finditer(text), MAX_CLAUSES)), len(text) + 1]
        windows: list[tuple[int, int]] = []
        for start, end in zip(cuts, cuts[1:], strict=False):
            window = [i for i, t in enumerate(toks) if start <= t.start < end]
            if len(window) < 4:
                continue
            if toks[window[0]].norm in _SUBORDINATE:
                continue  # "Before the Modi-Putin meeting, Zelensky spoke with Modi": a circumstance
            windows.append((window[0], window[-1]))
            # "Zelensky criticised a meeting between Narendra Modi and Vladimir Putin": who met is said after
            # "between", whoever speaks of it.
            for i in window[:-1]:
                if toks[i + 1].norm in _BETWEEN and any(h.last_token == i for h in hits):
                    windows.append((i, window[-1]))
        for first, last in windows:
            inside = [h for h in hits if first <= h.first_token and h.last_token <= last]
            found = self.participants.read(toks, inside, text, names, (first, last))
            matched = self._matching_hits(found.hits, found.groups)
            if matched is not None:
                return text[toks[first].start:toks[last].end], matched, found
        return None, None, self.participants.read(toks, hits, text, names)

    def _matching_hits(self, hits: list[TermHit], computed: set[str] = frozenset()) -> list[TermHit] | None:
        """The hits that satisfy the rule in this unit, or None when it does not hold. ``computed``: the
        groups found for the whole unit besides its terms (third_country)."""
        if not hits:
            return None
        proximity = self.settings.proximity
        if proximity == "sentence":
            return hits if evaluate(self.rule, {h.term.group for h in hits} | computed) else None
        for anchor in hits:
            window = [h for h in hits if anchor.first_token <= h.first_token < anchor.first_token + proximity]
            if evaluate(self.rule, {h.term.group for h in window} | computed):
                return window
        return None


def term_languages(topic: TopicSettings) -> dict[str, dict[str, list[str]]]:
    """Each keyword group's terms by the language of their script (en, ru, hi): what ``config check`` shows."""
    out: dict[str, dict[str, list[str]]] = {}
    for group, labels in topic.keywords.items():
        by_language: dict[str, list[str]] = {}
        for label in labels:
            term = Term.compile(group, label)
            if term is not None:
                by_language.setdefault(term.language, []).append(label)
        out[group] = by_language
    return out


class Tagger:
    """Tags title and text against every configured topic."""

    def __init__(self, config: Config, background: list[str] | None = None) -> None:
        """``background``: texts of articles seen so far, oldest first, for the similarity's word weights."""
        self.topics = [CompiledTopic(config, topic, background) for topic in config.topics]
        # The languages the topics are written in (English always): detection chooses among these only.
        self.detector = Detector({code for topic in self.topics for code in topic.languages} | {"en"})

    def language(self, title: str, text: str) -> str | None:
        """The article's language, among the topics' languages."""
        return self.detector.article(title or "", text or "")

    def tag(self, title: str, text: str, published: dt.date | dt.datetime | None = None, *,
            skip_hopeless: bool = False, language: str | None = None) -> dict[str, TopicResult]:
        """``language``: the article's, when known (the pipeline's, from extraction); detected otherwise."""
        day = published.date() if isinstance(published, dt.datetime) else published
        if language is None:
            language = self.language(title, text)
        return {topic.id: topic.tag(title or "", text or "", day, skip_hopeless=skip_hopeless, language=language,
                                    detector=self.detector)
                for topic in self.topics}
