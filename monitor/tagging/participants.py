"""Who takes part in what a sentence reports: the people of the two sides, and anyone else's.

A topic with ``sides`` (India: IN, Russia: RU) reads each sentence's participants from three things:

- **people** the topic names (``[topics.people]``): "Путину" is Vladimir Putin of the side russia;
- **titles** beside a country: a title from the keyword groups ``leader_title`` (president, prime minister,
  foreign minister, counterpart...) or ``official_title`` (security adviser, defence minister, ambassador,
  deputy minister, diplomats...), with a country from the gazetteer (monitor.language.gazetteer) just before
  it ("British Prime Minister", "भारत के रक्षा मंत्री", "китайским коллегой", with only words such as "the"
  or "के" between) or just after it ("the President of Ukraine", "президентом Украины", "leaders of China
  and India");
- the topic's ``third_party`` group, when it has one (leaders named outright: Xi, Trump).

What that changes for the rules:

- a participant from a country that is neither side makes the group ``third_country``: the sentence
  reports a meeting with someone else (Modi in Kyiv with Ukraine's president; Lavrov with his Chinese
  counterpart; "the leaders of Russia, China and India" at a summit of many). No list of today's leaders is
  needed: every country's adjective and name is known;
- a side present only as an official below minister level ("India's Defence Minister", "Russian Security
  Council Secretary") does not count as that side: the side's terms inside the official's title are taken
  out, so "India's defence minister met Putin" is no India–Russia summit, while "Modi, with his security
  adviser, met Putin" still is.

Every participant found is reported with the sentence (``participants``: name, side, role, country), so
``explain`` shows who the tagger thought met whom, and the timeline names them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from monitor.config import TopicSettings
from monitor.language import stem
from monitor.language.gazetteer import gazetteer
from monitor.language.text import Term, TermHit, Token, fold

LEADER_TITLE, OFFICIAL_TITLE, THIRD_PARTY, THIRD_COUNTRY = "leader_title", "official_title", "third_party", \
    "third_country"
THIRD = "third"

# Words that may stand between a country and the title it qualifies: "India's then Prime Minister", "भारत के
# रक्षा मंत्री", "the President of the United States", "Prime Minister of India".
_BEFORE_GAP = {"the", "then", "former", "new", "top", "senior", "chief", "acting", "interim", "its",
               "के", "की", "का", "नए", "पूर्व", "бывший", "новый", "нынешний"}
_AFTER_GAP = {"of", "the", "for", "के", "की", "का"}
_LIST_JOINS = {"and", "or", "и", "или", "और", "एवं", "तथा"}
_BREAK = re.compile(r"[,;:()\[\]«»\"“”]")  # a title and a country on either side of these are not one phrase
_MAX_GAP = 2
MAX_TITLES, MAX_COUNTRIES = 48, 96


@dataclass
class Participants:
    """What ``Finder.read`` gives for one sentence."""

    hits: list[TermHit]  # the keyword hits that count (a side's terms inside an official's title are out)
    groups: set[str] = field(default_factory=set)  # computed groups: third_country
    found: list[dict[str, Any]] = field(default_factory=list)


class Finder:
    def __init__(self, topic: TopicSettings) -> None:
        self.active = bool(topic.sides)
        self.side_of_country = {side.country: name for name, side in topic.sides.items()}
        self.side_of_group = {group: name for name, side in topic.sides.items()
                              for group in (*side.groups, *([side.leaders] if side.leaders else []))}
        self.leaders_of = {name: side.leaders for name, side in topic.sides.items() if side.leaders}
        self._last_countries: tuple[Any, list[TermHit]] = (None, [])
        self.people: dict[str, tuple[str, str, str]] = {}  # folded written form -> (name, side, role)
        for name, person in topic.people.items():
            for form in (name, *person.names):
                term = Term.compile("person", form)
                if term is not None:
                    self.people[" ".join(term.words)] = (name, person.side, person.role)

    def read(self, toks: list[Token], hits: list[TermHit], text: str, names: Names | None = None,
             window: tuple[int, int] | None = None) -> Participants:
        """The participants of one unit (a sentence, or the tokens ``window`` of it: a clause). ``names``: what
        the article taught so far ("Indian Prime Minister Manmohan Singh" makes "Singh" an Indian leader in
        the sentences after), added to here."""
        if not self.active:
            return Participants(hits)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        groups: set[str] = set()
        for hit in hits:
            person = self.people.get(" ".join(hit.term.words)) if hit.term.group in self.side_of_group else None
            if person is not None:
                name, side, role = person
                found.setdefault((side, name), {"name": name, "side": side, "role": role, "text": hit.term.label})
            elif hit.term.group == THIRD_PARTY:
                found.setdefault((THIRD, hit.term.label), {"name": hit.term.label, "side": THIRD, "role": "leader",
                                                           "text": text[hit.start:hit.end]})
                groups.add(THIRD_COUNTRY)
        if names:
            first, last = window if window is not None else (0, len(toks) - 1)
            for i in range(first, last + 1):
                learned = names.get(_name_key(toks[i].norm))
                if learned is not None and text[toks[i].start:toks[i].start + 1].isupper():
                    name, side, role = learned
                    found.setdefault((side, name), {"name": name, "side": side, "role": role,
                                                    "text": text[toks[i].start:toks[i].end]})
                    self._count(side, role, groups)
        # A person the topic lists as an official (a security adviser, a spokesman) brings no side to the table.
        masked: list[tuple[int, int]] = [
            (h.first_token, h.last_token) for h in hits if h.term.group in self.side_of_group
            and (p := self.people.get(" ".join(h.term.words))) is not None and p[2] == "official"]
        # Bounded: a sentence of a thousand titles (hostile, or a list that lost its line breaks) costs no more
        # than its first MAX_TITLES, whose pairing with countries is quadratic.
        titles = _chained(_outermost([h for h in hits if h.term.group in (LEADER_TITLE, OFFICIAL_TITLE)]
                                     [:MAX_TITLES]), toks, text)
        if not titles:
            kept = [h for h in hits if not (h.term.group in self.side_of_group and _inside(h, masked))]
            return Participants(kept, groups, list(found.values()))
        countries = self._countries(toks, text)
        named_sides = {p["side"] for p in found.values() if p["role"] != "official"}
        known = {t for h in hits if h.term.group not in (LEADER_TITLE, OFFICIAL_TITLE)
                 for t in range(h.first_token, h.last_token + 1)}
        for title, role in titles:
            for country, first, last in _countries_of(title, countries, toks, text):
                code = country.term.group
                side = self.side_of_country.get(code, THIRD)
                if side != THIRD and role == "official":
                    masked.append((first, last))
                self._count(side, role, groups)
                person = _name_after(title, toks, text, known | {t for c in countries
                                                                for t in range(c.first_token, c.last_token + 1)})
                if person is not None and names is not None:
                    for key in {_name_key(toks[person[0]].norm), _name_key(toks[person[1]].norm)}:
                        if len(key) >= 3:
                            names.setdefault(key, (text[toks[person[0]].start:toks[person[1]].end], side, role))
                if side != THIRD and role == "leader" and side in named_sides:
                    continue  # "Russian President Vladimir Putin": the person is named already
                phrase = text[toks[first].start:toks[last].end]
                found.setdefault((side, fold(phrase)), {"name": phrase, "side": side, "role": role, "country": code,
                                                        "text": phrase})
        kept = [h for h in hits if not (h.term.group in self.side_of_group and _inside(h, masked))]
        return Participants(kept, groups, list(found.values()))

    def _countries(self, toks: list[Token], text: str) -> list[TermHit]:
        """The sentence's countries, found once however many of its clauses are read."""
        key = (id(toks), len(toks), text)  # the same text gives the same countries, whichever thread asks
        cached = self._last_countries
        if cached[0] == key:
            return cached[1]
        found = gazetteer().find(toks, text)[:MAX_COUNTRIES]
        self._last_countries = (key, found)
        return found

    def _count(self, side: str, role: str, groups: set[str]) -> None:
        """What a participant makes of the unit's groups: a third country's anyone makes third_country, a
        side's leader (by title) the side's leaders group."""
        if side == THIRD:
            groups.add(THIRD_COUNTRY)
        elif role == "leader" and side in self.leaders_of:
            groups.add(self.leaders_of[side])


# What an article teaches of names: a name's key (its first or last word, stemmed) -> (name, side, role).
Names = dict[str, tuple[str, str, str]]


def _name_key(norm: str) -> str:
    return stem.stem(norm) or norm


def _name_after(title: TermHit, toks: list[Token], text: str, taken: set[int]) -> tuple[int, int] | None:
    """The tokens of the capitalised name right after a title ("President Dmitry Medvedev"), up to three
    words, or None (a known term or a lower-case word comes first)."""
    first = title.last_token + 1
    last = None
    for i in range(first, min(first + 3, len(toks))):
        tok = toks[i]
        if i in taken or not text[tok.start:tok.start + 1].isupper() or not tok.norm.isalpha() \
                or _BREAK.search(text, toks[i - 1].end, tok.start):
            break
        last = i
    return (first, last) if last is not None else None


def _outermost(hits: list[TermHit]) -> list[TermHit]:
    """The title hits not inside a longer one: "Deputy Foreign Minister", not its "Foreign Minister"."""
    seen: set[tuple[int, int]] = set()
    out = []
    for h in hits:
        if (h.first_token, h.last_token) in seen or any(
                o.first_token <= h.first_token and h.last_token <= o.last_token
                and (o.last_token - o.first_token) > (h.last_token - h.first_token) for o in hits):
            continue
        seen.add((h.first_token, h.last_token))
        out.append(h)
    return out


def _chained(titles: list[TermHit], toks: list[Token], text: str) -> list[tuple[TermHit, str]]:
    """Titles with their rank, where a title that qualifies another makes one: "советник премьер-министра"
    (the prime minister's adviser), "Prime Minister's adviser", "प्रधानमंत्री के सलाहकार" are an adviser. The
    chain's rank is the lowest of its titles; its span covers them all."""
    out: list[tuple[TermHit, str]] = []
    for title in sorted(titles, key=lambda h: h.first_token):
        role = "leader" if title.term.group == LEADER_TITLE else "official"
        if out and _gap_ok(toks, text, out[-1][0].last_token, title.first_token, _AFTER_GAP | {"to"}):
            previous, previous_role = out.pop()
            role = "official" if "official" in (role, previous_role) else "leader"
            title = TermHit(previous.term if previous_role == role else title.term, previous.first_token,
                            title.last_token, previous.start, title.end)
        out.append((title, role))
    return out


def _inside(hit: TermHit, spans: list[tuple[int, int]]) -> bool:
    return any(first <= hit.first_token and hit.last_token <= last for first, last in spans)


def _gap_ok(toks: list[Token], text: str, after: int, before: int, allowed: set[str]) -> bool:
    """Whether the tokens strictly between index ``after`` and ``before`` are at most _MAX_GAP connector words,
    with no punctuation that breaks a phrase."""
    if before - after - 1 > _MAX_GAP or before <= after:
        return False
    if _BREAK.search(text, toks[after].end, toks[before].start):
        return False
    return all(toks[i].norm in allowed for i in range(after + 1, before))


def _countries_of(title: TermHit, countries: list[TermHit], toks: list[Token],
                  text: str) -> list[tuple[TermHit, int, int]]:
    """The countries a title belongs to, with the phrase's first and last token: those inside it ("top
    Russian, Indian diplomats"), else the one just before it (and those listed with it: "India and Russia's
    foreign ministers"), else those just after it."""
    inside = [c for c in countries if title.first_token <= c.first_token and c.last_token <= title.last_token]
    if inside:
        return [(c, title.first_token, title.last_token) for c in inside]
    before = [c for c in countries if c.last_token < title.first_token
              and _gap_ok(toks, text, c.last_token, title.first_token, _BEFORE_GAP)]
    if before:
        chosen = [before[-1]]
        _extend_list(chosen, countries, toks, text, backwards=True)
        return [(c, chosen[-1].first_token, title.last_token) for c in chosen]
    after = [c for c in countries if c.first_token > title.last_token
             and _gap_ok(toks, text, title.last_token, c.first_token, _AFTER_GAP)]
    if after:
        chosen = [after[0]]
        _extend_list(chosen, countries, toks, text, backwards=False)
        return [(c, title.first_token, chosen[-1].last_token) for c in chosen]
    return []


def _extend_list(chosen: list[TermHit], countries: list[TermHit], toks: list[Token], text: str, *,
                 backwards: bool) -> None:
    """Countries joined to the chosen one by commas and "and": "leaders of Russia, China and India"."""
    while True:
        edge = chosen[-1]
        if backwards:
            candidates = [c for c in countries if c.last_token < edge.first_token]
            nxt = candidates[-1] if candidates else None
            span = (nxt.last_token, edge.first_token) if nxt else None
        else:
            candidates = [c for c in countries if c.first_token > edge.last_token]
            nxt = candidates[0] if candidates else None
            span = (edge.last_token, nxt.first_token) if nxt else None
        if nxt is None or span is None:
            return
        between = [toks[i].norm for i in range(span[0] + 1, span[1])]
        gap_text = text[toks[span[0]].end:toks[span[1]].start]
        if len(between) > 1 or (between and between[0] not in _LIST_JOINS) \
                or (not between and "," not in gap_text) or re.search(r"[;:()]", gap_text):
            return
        chosen.append(nxt)
