"""The timeline: the meetings that the mention sentences report, merged across outlets. Pure functions.

Two steps, so that the costly one happens once per tag and the merge sees every outlet at once:

1. ``sentence_meetings(payload)``, when a ``MentionTagged`` is projected (the ``timeline`` view keeps the result
   per article and topic): each evidence sentence that counts (not history, not context) and that has a
   resolved date of a month or less and participants from both sides, and no third country's participant
   (neither among the tagger's participants nor a third country's leader named anywhere in the sentence),
   becomes a *sighting*: who (participants named as the topic names them), where (``places``), when (the
   date's range), what kind (summit, bilateral meeting, talks, visit, meeting) and the sentence itself.
2. ``merge(rows)``, when the timeline is read: sightings with the same participants, date ranges that overlap
   or touch, and compatible places (one within the other) are one event. The most precise sightings seed the
   events (a day before "early next month"), so the merge does not depend on the order of the log. An event is
   ``held`` when it ends on or before the newest publication that reports it, else ``upcoming``: a preview stays
   upcoming until coverage after the date says it happened.

Participants come from the tagger's ``participants`` (each ``{name, side, role}``); a side on which it names
no one gets the people its matched leader terms name (``_FALLBACK``: "EAM", "the Russian leader"), and evidence
tagged before the tagger named participants gets them all that way, so older logs have a timeline. A side needs a
leader or a minister: an official alone is more often the one who briefs.
A meeting's participants are its leaders when each side has one in the sentence: the minister who briefs on a
summit's preparations does not hold it. A sentence has one date, its most precise.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.language.gazetteer import gazetteer
from monitor.language.text import tokens
from monitor.views.places import Place, find_place

SIDES = ("india", "russia")
_SIDE_COUNTRIES = frozenset({"IN", "RU"})  # the sides' countries (ISO codes, as the gazetteer names them)
# The words that make a country's adjective or name a leader or a minister when they follow it ("Chinese
# President", "China's Foreign Minister", "the Ukrainian leader"): lower-cased tokens.
_LEADER_WORDS = frozenset({"president", "premier", "prime", "leader", "chancellor", "king", "emir", "foreign",
                           "counterpart", "pm", "minister", "председатель", "президент", "премьер", "лидер"})
KINDS = ("bilateral meeting", "talks", "summit", "visit", "meeting")
MAX_SPAN_DAYS = 31  # a year ("in 2024") dates no meeting: no sighting's range is longer (end - start, in days)
_TOUCH = dt.timedelta(days=1)

# Terms matched before the tagger named participants: the leader terms of the shipped topic, by person.
_PEOPLE = {
    "Narendra Modi": ("india", "leader", ("Modi", "Narendra Modi", "Indian Prime Minister", "Indian PM",
                                           "India's Prime Minister", "Prime Minister of India", "PM Modi", "Моди",
                                           "Нарендра Моди", "मोदी", "नरेंद्र मोदी")),
    "Subrahmanyam Jaishankar": ("india", "minister", ("Jaishankar", "Subrahmanyam Jaishankar", "S Jaishankar",
                                                      "EAM", "External Affairs Minister",
                                                      "Indian External Affairs Minister", "Indian Foreign Minister",
                                                      "Джайшанкар", "जयशंकर")),
    "Vladimir Putin": ("russia", "leader", ("Putin", "Vladimir Putin", "Russian President", "Russia's President",
                                             "President of Russia", "Russian leader", "Путин", "Владимир Путин",
                                             "पुतिन")),
    "Sergey Lavrov": ("russia", "minister", ("Lavrov", "Sergey Lavrov", "Sergei Lavrov", "Russian Foreign Minister",
                                             "Лавров", "लावरोव")),
    "Xi Jinping": ("third", "leader", ("Xi", "Xi Jinping", "Си", "Си Цзиньпин")),
    "Donald Trump": ("third", "leader", ("Trump", "Donald Trump", "Трамп")),
}
_FALLBACK = {term: {"name": name, "side": side, "role": role}
             for name, (side, role, terms) in _PEOPLE.items() for term in terms}


def _generic(person: dict[str, Any]) -> bool:
    """A participant the tagger could only describe ("Russian leader", "his Russian counterpart"), not name."""
    words = str(person.get("name") or "").split()
    return bool(words) and words[-1].islower()


def _from_terms(sentence: dict[str, Any]) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for term in sentence.get("terms") or ():
        person = _FALLBACK.get(term if isinstance(term, str) else "")
        if person:
            found[person["name"]] = person
    return list(found.values())


def participants_of(sentence: dict[str, Any]) -> list[dict[str, Any]]:
    """The sentence's participants: the tagger's (``participants``), and for a side it names no one on (none,
    or only a description: "the Russian leader"), the people its matched leader terms name ("EAM" is the
    External Affairs Minister). A description gives way to a name on its side."""
    given = sentence.get("participants")
    if given is None:
        return _from_terms(sentence)
    people = [p for p in given if isinstance(p, dict) and p.get("name")]
    named_sides = {p.get("side") for p in people if not _generic(p)}
    known = {p["name"] for p in people}
    people += [p for p in _from_terms(sentence) if (p["side"] not in named_sides or p["side"] == "third")
               and p["name"] not in known]
    named_sides = {p.get("side") for p in people if not _generic(p)}
    return [p for p in people if not (_generic(p) and p.get("side") in named_sides)]


def _third_country_leader(text: str) -> bool:
    """Whether the sentence names a leader or a minister of a country that is neither side, by its country
    ("talks with Chinese President Xi Jinping", "China's Foreign Minister"), anywhere in the sentence: the
    tagger reads participants clause by clause, so a sentence's other clause may meet someone else. Every
    country's name and adjective comes from the gazetteer; no list of today's leaders."""
    toks = tokens(text)
    for hit in gazetteer().find(toks, text):
        if hit.term.group in _SIDE_COUNTRIES:
            continue
        after = [t.norm for t in toks[hit.last_token + 1:hit.last_token + 3]]
        if after and (after[0] in _LEADER_WORDS or (after[0] in ("s", "'s") and len(after) > 1
                                                    and after[1] in _LEADER_WORDS)):
            return True
    return False


def _meets(people: list[dict[str, Any]]) -> bool:
    """Both sides, each with a leader or a minister (or someone of no known role), and no third country's
    participant. An official alone on a side is more often the one who briefs than one who meets ("Misri
    said ... in Tianjin on Sunday")."""
    sides = {p.get("side") for p in people}
    if "third" in sides:
        return False
    return all(any(p.get("side") == side and p.get("role") in ("leader", "minister", None) for p in people)
               for side in SIDES)


def _kind(sentence: dict[str, Any]) -> str:
    terms = [t.lower() for t in sentence.get("terms") or () if isinstance(t, str)]
    groups = set(sentence.get("groups") or ())
    if any(t.startswith("bilateral") for t in terms):
        return "bilateral meeting"
    if any(t.startswith(("talk", "discuss", "negotiat")) for t in terms):
        return "talks"  # "held talks ... as they prepare the summit": the talks are what happened
    if "summit" in groups:
        return "summit"
    if any(t.startswith(("visit", "trip", "arriv", "welcom")) for t in terms):
        return "visit"
    return "meeting"


def _ranges(sentence: dict[str, Any]) -> list[tuple[dt.date, dt.date, str]]:
    """The date of the meeting the sentence reports: its most precise date (a day before "next month", which
    is more often what the meeting prepares), with its longest wording ("today,1 September" over
    "2025-09-01"); none when it has no date of a month or less."""
    best: dict[tuple[dt.date, dt.date], str] = {}
    for ref in sentence.get("dates") or ():
        try:
            start = dt.date.fromisoformat(ref["date"])
            end = dt.date.fromisoformat(ref.get("end_date") or ref["date"])
        except (KeyError, TypeError, ValueError):
            continue
        if end < start or (end - start).days > MAX_SPAN_DAYS:
            continue
        text = str(ref.get("text") or "")
        if len(text) > len(best.get((start, end), "")):
            best[(start, end)] = text
    if not best:
        return []
    (start, end), text = min(best.items(), key=lambda kv: ((kv[0][1] - kv[0][0]).days, -len(kv[1]), kv[0]))
    return [(start, end, text)]


def sentence_meetings(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The sightings of meetings in one tag's evidence (see the module docstring), as JSON-ready dicts."""
    out = []
    for sentence in payload.get("evidence") or ():
        if not isinstance(sentence, dict) or sentence.get("history") or sentence.get("context"):
            continue
        ranges = _ranges(sentence)
        people = participants_of(sentence)
        if not ranges or not _meets(people) or _third_country_leader(str(sentence.get("text") or "")):
            continue
        kind = _kind(sentence)
        # With a leader on each side, the meeting is the leaders': the minister who briefs on a summit, or whose
        # earlier visit the sentence recalls, does not hold it.
        leaders = [p for p in people if p.get("role") == "leader"]
        if all(any(p.get("side") == side for p in leaders) for side in SIDES):
            people = leaders
        place = find_place(str(sentence.get("text") or ""))
        for start, end, date_text in ranges:
            out.append({"sentence": sentence.get("text"), "field": sentence.get("field"),
                        "start_offset": sentence.get("start"), "date_text": date_text,
                        "start": start.isoformat(), "end": end.isoformat(), "kind": kind,
                        "participants": sorted({str(p["name"]) for p in people}),
                        "place": place.as_dict() if place else None})
    return out


# -- the merge -----------------------------------------------------------------------------------------

@dataclass
class Event:
    topic: str
    participants: tuple[str, ...]
    start: dt.date
    end: dt.date
    place: Place | None
    sightings: list[dict[str, Any]] = field(default_factory=list)

    def accepts(self, topic: str, participants: tuple[str, ...], start: dt.date, end: dt.date,
                place: Place | None) -> bool:
        return (topic == self.topic and participants == self.participants and start <= self.end + _TOUCH
                and end >= self.start - _TOUCH and (place is None or place.compatible(self.place)))

    def as_dict(self) -> dict[str, Any]:
        published = [s["published_at"] for s in self.sightings if s.get("published_at")]
        newest = max((dt.datetime.fromisoformat(p) for p in published), default=None)
        kinds = Counter(s["kind"] for s in self.sightings)
        kind = min(kinds, key=lambda k: (-kinds[k], KINDS.index(k) if k in KINDS else len(KINDS)))
        held = newest is not None and self.end <= newest.astimezone(dt.UTC).date()
        evidence, seen = [], set()
        for s in sorted(self.sightings, key=lambda s: (s.get("published_at") or "", s["article_id"]), reverse=True):
            if (s["article_id"], s["sentence"]) not in seen:
                seen.add((s["article_id"], s["sentence"]))
                evidence.append({"article_id": s["article_id"], "url": s.get("url"), "title": s.get("title"),
                                 "outlet": s.get("outlet"), "published_at": s.get("published_at"),
                                 "sentence": s["sentence"], "date_text": s["date_text"]})
        key = "|".join([self.topic, ",".join(self.participants), self.start.isoformat(), self.end.isoformat()])
        return {
            "id": hashlib.sha256(key.encode()).hexdigest()[:12], "topic": self.topic, "kind": kind,
            "status": "held" if held else "upcoming", "start": self.start.isoformat(), "end": self.end.isoformat(),
            "place": self.place.label if self.place else None, "participants": list(self.participants),
            "articles": len({s["article_id"] for s in self.sightings}),
            "outlets": sorted({s["outlet"] for s in self.sightings if s.get("outlet")}),
            "first_reported": min(published, key=dt.datetime.fromisoformat) if published else None,
            "last_reported": newest.isoformat() if newest else None, "evidence": evidence,
        }


def _precision(sighting: dict[str, Any]) -> tuple[Any, ...]:
    start, end = dt.date.fromisoformat(sighting["start"]), dt.date.fromisoformat(sighting["end"])
    return ((end - start).days, 0 if sighting.get("place") else 1, start, sighting.get("published_at") or "",
            sighting["article_id"], sighting.get("start_offset") or 0, sighting["sentence"] or "")


def _brief_precision(sighting: dict[str, Any]) -> tuple[Any, ...]:
    """``_precision`` of a brief sighting (``brief_sightings``), whose ``tie_rank`` stands for its offset and
    sentence: within a topic and participants, the two keys order sightings the same way (see ``tie_ranks``)."""
    start, end = dt.date.fromisoformat(sighting["start"]), dt.date.fromisoformat(sighting["end"])
    return ((end - start).days, 0 if sighting.get("place") else 1, start, sighting.get("published_at") or "",
            sighting["article_id"], sighting["tie_rank"])


def tie_ranks(meetings: Sequence[dict[str, Any]]) -> list[int]:
    """Each of one tag's sightings' place among them in the merge's order, when all else is equal: by offset, then
    sentence, then the order of the list (the merge's sort is stable, and a tag's sightings come in that order).
    Two sightings of a topic and participants that tie on every key before the offset are one tag's (the article
    is a key), so this rank orders them as ``_precision`` does."""
    order = sorted(range(len(meetings)), key=lambda i: (meetings[i].get("start_offset") or 0,
                                                        meetings[i]["sentence"] or ""))
    ranks = [0] * len(meetings)
    for rank, index in enumerate(order):
        ranks[index] = rank
    return ranks


def participants_key(participants: Iterable[str]) -> str:
    """One string for a sighting's participants (the merge's group, with the topic): JSON, so unambiguous."""
    return json.dumps(list(participants), ensure_ascii=False, separators=(",", ":"))


def assemble(sightings: Iterable[dict[str, Any]], *, brief: bool = False) -> list[Event]:
    """The merge's events, unrendered, in the order they were founded. Each sighting needs ``topic``,
    ``participants``, ``start``, ``end``, ``place``, ``article_id`` and ``published_at``, and for the order either
    ``start_offset`` and ``sentence`` or (``brief``) ``tie_rank``.

    An event takes only sightings of its topic and participants whose range overlaps or touches its own, which is
    its founding sighting's and never grows: so the events of any set of sightings closed under "same topic and
    participants, ranges overlap or touch" (a union of that graph's connected components) are exactly the events
    of the whole log that hold those sightings (``component_extents``)."""
    events: list[Event] = []
    by_day: dict[tuple[str, tuple[str, ...]], dict[dt.date, list[int]]] = {}
    for s in sorted(sightings, key=_brief_precision if brief else _precision):
        start, end = dt.date.fromisoformat(s["start"]), dt.date.fromisoformat(s["end"])
        participants, place = tuple(s["participants"]), Place.from_dict(s.get("place"))
        days = by_day.setdefault((s["topic"], participants), {})
        window = (start - _TOUCH + dt.timedelta(n) for n in range((end - start).days + 3))
        near = sorted({i for day in window for i in days.get(day, ())})
        index = next((i for i in near if events[i].accepts(s["topic"], participants, start, end, place)), None)
        if index is None:
            events.append(Event(s["topic"], participants, start, end, place, [s]))
            for n in range((end - start).days + 1):
                days.setdefault(start + dt.timedelta(n), []).append(len(events) - 1)
        else:
            event = events[index]
            event.sightings.append(s)
            event.place = place.narrower(event.place) if place else event.place
    return events


def founded(events: Iterable[list[dict[str, Any]]]) -> list[Event]:
    """The events whose sightings are given (each list one event's, as ``assemble`` gathered them, each sighting
    with its ``n`` in its tag), as ``assemble`` returns them: its founding sighting first in the merge's order,
    the others joining in that order (each narrowing its place), and the events in the order they were founded.
    Sightings of one tag that tie on ``_precision`` keep their order in the tag (``n``), as the merge's stable sort
    keeps them."""
    out = []
    for sightings in events:
        first, *others = sorted(sightings, key=lambda s: (_precision(s), s["n"]))
        event = Event(first["topic"], tuple(first["participants"]), dt.date.fromisoformat(first["start"]),
                      dt.date.fromisoformat(first["end"]), Place.from_dict(first.get("place")), [first])
        for sighting in others:
            place = Place.from_dict(sighting.get("place"))
            event.sightings.append(sighting)
            event.place = place.narrower(event.place) if place else event.place
        out.append(event)
    out.sort(key=lambda e: (_precision(e.sightings[0]), e.sightings[0]["n"]))
    return out


def rendered(events: Iterable[Event]) -> list[dict[str, Any]]:
    """The events as the timeline shows them: upcoming first, then held, newest first (events of one date range
    in the order they were founded)."""
    out = [event.as_dict() for event in events]
    out.sort(key=lambda e: (e["start"], e["end"], e["id"]), reverse=True)
    out.sort(key=lambda e: e["status"] != "upcoming")
    return out


def merge(sightings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events of the sightings (each with ``topic``, ``article_id`` and its article's ``published_at``,
    ``url``, ``title`` and ``outlet``): upcoming first, then held, newest first.

    Events are indexed by topic and participants, then by the days they cover, so a sighting meets only the
    events it could join (a log's worth of sightings merges in linear time)."""
    return rendered(assemble(sightings))


def component_extents(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The extents (first day, last day, as ordinals) of the connected components of "ranges overlap or touch"
    over the ranges of one topic and participants, in order. Sorted by start, a range joins the component before
    it when it starts at most a day after that component's last day."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def select_events(events: list[dict[str, Any]], *, date_from: dt.date | None = None, date_to: dt.date | None = None,
                  status: str = "all") -> list[dict[str, Any]]:
    """The events whose dates overlap ``[date_from, date_to]`` (inclusive) and of ``status`` (held, upcoming,
    all)."""
    return [e for e in events
            if (status == "all" or e["status"] == status)
            and (date_from is None or dt.date.fromisoformat(e["end"]) >= date_from)
            and (date_to is None or dt.date.fromisoformat(e["start"]) <= date_to)]


__all__ = ["KINDS", "MAX_SPAN_DAYS", "SIDES", "Event", "assemble", "component_extents", "founded", "merge",
           "participants_key", "participants_of", "rendered", "select_events", "sentence_meetings", "tie_ranks"]
