"""Resolve the English date expressions of a news sentence to calendar dates.

The tagger reports, for every sentence that mentions a watched topic, the dates that sentence refers
to.  News prose mixes absolute dates ("July 8-9, 2024", "2025-09-01") with expressions that only mean
something against the article's publication date ("today", "early next month", "on Tuesday",
"December 5").  This module finds both with a few precompiled regular expressions and resolves them
against a reference date using only the standard library: general-purpose parsers such as dateparser
are far too slow to run on every sentence of every article, and too eager (they read the verb "may"
or "Section 5" as dates).

Recognised (case-insensitive, on word boundaries):

* day + month [+ year]: "1 September 2025", "1st of September", "8-9 July 2024", "8 and 9 July";
  month + day [+ year]: "September 1, 2025", "Sept. 1", "July 8-9, 2024"; ISO "2025-09-01";
* month + year: "December 2025" (month precision); a year after in/since/by/until/from/during
  ("in 2024", "by early 2030") and "from 2020 to 2024" (year precision);
* relative: today, tonight, this morning/afternoon/evening, last night, tomorrow, yesterday;
  this/next/last week (Monday-Sunday, day precision), month, year, also qualified ("early next month",
  "later this year": still the whole period); weekday names ("on Tuesday": the occurrence within three
  days of the reference; "next Tuesday"/"last Tuesday": the one in the following/previous seven days).

Rules: the reported text excludes prepositions ("on 1 September" -> "1 September").  A day + month
without a year takes the year that puts it nearest the reference ("December 28" read on 2026-01-03 is
2025-12-28).  Without a reference, relative expressions and yearless dates are skipped.  "May", "March"
and "Mar" count only when capitalised and next to a number, so the verbs never match.  Impossible dates
("February 30") are skipped.  Overlapping candidates keep the longest.  A relative day word right next
to an explicit date ("today,1 September", "Tuesday, November 18, 2025", "Tuesday (November 18, 2025)")
merges into one reference carrying the explicit date.  Numeric d/m/y forms ("01/09/2025") are
ambiguous and deliberately not read.

Speed (10-30 microseconds for a 300-character sentence): patterns run on the lower-cased text without
re.IGNORECASE.  Absolute dates all hold a digit, so they are tried only at digit runs (one fast scan)
and at a month name or preposition just before one; the relative patterns start with a literal and
only run when one of their key words occurs in the sentence.
"""

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class DateRef:
    text: str  # the matched text as it appears in the sentence
    start: int  # character offset of the match within the sentence
    end: int  # end offset (exclusive)
    date: dt.date  # first day referred to
    end_date: dt.date  # last day referred to
    precision: str  # "day", "month" or "year"
    relative: bool  # True when resolved against the reference date

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "date": self.date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "precision": self.precision,
            "relative": self.relative,
        }


# Internal candidate: (start, end, date, end_date, precision, relative, kind).  kind is "date" for an
# explicit calendar day, "word" for a relative single day (today, Tuesday...), "period" otherwise, and
# "void" for an impossible date ("31 April 2025"): it claims its text, so "April 2025" is not read.
_Cand = tuple[int, int, dt.date, dt.date, str, bool, str]

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_AMBIGUOUS = {"may", "march", "mar"}  # English words that are months only when capitalised

_MONTH_NAME = (
    r"(?:j(?:an(?:uary)?|une?|uly?)|feb(?:ruary)?|ma(?:r(?:ch)?|y)|a(?:pr(?:il)?|ug(?:ust)?)"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
_MON = rf"(?P<m>{_MONTH_NAME})"
_PREP = r"(?:in|since|by|until|from|during|between)(?=\s)"
_PREP_GAP = r"\s+(?:(?:early|mid|late)[\s-]+)?"
_SUF = r"(?:st|nd|rd|th)?\b"
_RANGE = r"(?:\s*[-–—&]\s*|\s+(?:to|and|until|through)\s+)"
_YEAR = r"(?:19[0-9][0-9]|20[0-9][0-9]|2100)\b"
_NOT_ISO = r"(?![-–/][0-9])"  # "2024-25", "2025-09-01": not a bare year
_D2 = rf"(?:{_RANGE}(?P<d2>[0-3]?[0-9]){_SUF})?"
_Y = rf"(?:,?\s+(?P<y>{_YEAR}){_NOT_ISO})?"

# Forms holding a digit, tried with .match() at a digit run or at the word just before one.
_DAY_MONTH = re.compile(rf"(?P<d1>[0-9][0-9]?)(?P<suf>st|nd|rd|th)?\b{_D2}\s+(?P<of>of\s+)?{_MON}{_Y}")
_ISO = re.compile(r"(?P<y>[12][0-9]{3})-(?P<mo>[01][0-9])-(?P<d1>[0-3][0-9])(?![0-9-])")
_MONTH_LED = re.compile(
    rf"{_MON}(?:\s*(?P<d1>[0-3]?[0-9]){_SUF}{_D2}{_Y}|,?\s+(?:of\s+)?(?P<my>{_YEAR}){_NOT_ISO})"
)
_YEAR_LED = re.compile(rf"(?P<p>{_PREP}){_PREP_GAP}(?P<y>{_YEAR})(?:{_RANGE}(?P<y2>{_YEAR})|{_NOT_ISO})")
_NUM = re.compile(r"[0-9]+")
# searched backwards from a digit run (endpos = its start) for the word that may lead the date
_LEAD = re.compile(rf"\b(?:(?P<mon>{_MONTH_NAME})(?:,?\s*|,?\s+of\s+)|{_PREP}{_PREP_GAP})\Z")

# Relative forms, scanned for; each starts with a literal.  Qualifiers ("early", "next") are looked
# for just before a match (search with endpos = match start).
_REL_DAY = re.compile(
    r"(?P<w>to(?:day|night|morrow)|yesterday|this\s+(?:morning|afternoon|evening)|last\s+night)\b"
)
_REL_PERIOD = re.compile(r"(?P<which>this|next|last)\s+(?P<unit>week|month|year)\b")
_WEEKDAY = re.compile(r"(?P<wd>(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b")
_PERIOD_QUALIFIER = re.compile(
    r"\b(?:(?:early|mid|late|later|earlier)[\s-]+|(?:end|start|beginning|middle)\s+of\s+)\Z"
)
_WEEKDAY_QUALIFIER = re.compile(r"\b(?P<which>this|next|last|past)\s+\Z")
_GAP = re.compile(r"\s*[,(]?\s*")


def _month_no(token: str) -> int:
    return _MONTHS.index(token.lower()[:3]) + 1


def _ambiguous(token: str) -> bool:
    return token.rstrip(".").lower() in _AMBIGUOUS and token[0].islower()


def _days(year: int, month: int, d1: int, d2: int) -> tuple[dt.date, dt.date] | None:
    try:
        first, last = dt.date(year, month, d1), dt.date(year, month, d2)
    except ValueError:
        return None
    return (first, last) if first <= last else None


def _month_span(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def _resolve(month: int, d1: int, d2: int, year: str | None, ref: dt.date | None):
    """(first, last, relative) for a day (range) of a month; a missing year is taken from `ref`."""
    if year:
        span = _days(int(year), month, d1, d2)
        return (*span, False) if span else None
    if ref is None:
        return None
    # The year putting the date nearest the reference: this year unless that is over half a year away.
    span = _days(ref.year, month, d1, d2)
    delta = (span[0] - ref).days if span else 0
    if not span or delta > 182:
        alt = _days(ref.year - 1, month, d1, d2)
        if alt and (not span or ref.toordinal() - alt[0].toordinal() < delta):
            span = alt
    if not span or delta < -182:
        alt = _days(ref.year + 1, month, d1, d2)
        if alt and (not span or alt[0].toordinal() - ref.toordinal() < -delta):
            span = alt
    return (*span, True) if span else None


def _day_cand(m: re.Match, days, ref: dt.date | None) -> _Cand | None:
    if days:
        return (*m.span(), *days[:2], "day", days[2], "date")
    if m["y"] or ref is not None:  # impossible in every candidate year
        return (*m.span(), dt.date.min, dt.date.min, "day", False, "void")
    return None  # no year and no reference: unresolvable, not wrong


def _day_month(m: re.Match, ref: dt.date | None, text: str) -> _Cand | None:
    """Day first: "1 September 2025", "8-9 July", "1st of September"."""
    if _ambiguous(text[m.start("m") : m.end("m")]) or (m["of"] and not m["suf"]):
        return None  # the verb "may"/"march", or "5 of March" (only "5th of March" is a date)
    d1 = int(m["d1"])
    days = _resolve(_month_no(m["m"]), d1, int(m["d2"] or d1), m["y"], ref)
    return _day_cand(m, days, ref)


def _month_led(m: re.Match, ref: dt.date | None, text: str) -> _Cand | None:
    """Month first: "September 1, 2025", "July 8-9", "Sept. 1", or month + year "December 2025"."""
    if _ambiguous(text[m.start("m") : m.end("m")]):
        return None
    month = _month_no(m["m"])
    if m["my"]:
        return (*m.span(), *_month_span(int(m["my"]), month), "month", False, "period")
    d1 = int(m["d1"])
    days = _resolve(month, d1, int(m["d2"] or d1), m["y"], ref)
    return _day_cand(m, days, ref)


def _iso(m: re.Match, ref: dt.date | None, text: str) -> _Cand | None:
    span = _days(int(m["y"]), int(m["mo"]), int(m["d1"]), int(m["d1"]))
    return (*m.span(), *span, "day", False, "date") if span else None


def _year(m: re.Match, ref: dt.date | None, text: str) -> _Cand | None:
    """Years: "in 2024", "by early 2030", "from 2020 to 2024" (a range only after from/between)."""
    group = "y2" if m["y2"] and m["p"] in ("from", "between") else "y"
    first_year, last_year = int(m["y"]), int(m[group])
    if first_year > last_year:
        return None
    first, last = dt.date(first_year, 1, 1), dt.date(last_year, 12, 31)
    return (m.start("y"), m.end(group), first, last, "year", False, "period")


def _rel_day(m: re.Match, ref: dt.date, text: str) -> _Cand:
    word = m["w"]
    offset = 1 if word == "tomorrow" else -1 if word.startswith(("yesterday", "last")) else 0
    day = ref + dt.timedelta(days=offset)
    return (*m.span(), day, day, "day", True, "word")


def _rel_period(m: re.Match, ref: dt.date, text: str) -> _Cand:
    """this/next/last week|month|year, optionally qualified: "early next month" is still all of it."""
    start, end = m.span()
    if q := _PERIOD_QUALIFIER.search(m.string, max(0, start - 16), start):
        start = q.start()
    shift = {"this": 0, "next": 1, "last": -1}[m["which"]]
    if m["unit"] == "week":
        monday = ref - dt.timedelta(days=ref.weekday()) + dt.timedelta(weeks=shift)
        return (start, end, monday, monday + dt.timedelta(days=6), "day", True, "period")
    if m["unit"] == "month":
        year, month0 = divmod(ref.year * 12 + ref.month - 1 + shift, 12)
        return (start, end, *_month_span(year, month0 + 1), "month", True, "period")
    year = ref.year + shift
    return (start, end, dt.date(year, 1, 1), dt.date(year, 12, 31), "year", True, "period")


def _weekday(m: re.Match, ref: dt.date, text: str) -> _Cand:
    start, end = m.span()
    which = ""
    if q := _WEEKDAY_QUALIFIER.search(m.string, max(0, start - 8), start):
        start, which = q.start(), q["which"]
    ahead = (_WEEKDAYS.index(m["wd"]) - ref.weekday()) % 7  # 0..6 days ahead
    if which == "next":
        offset = ahead or 7  # within the following seven days
    elif which in ("last", "past"):
        offset = ahead - 7  # within the previous seven days
    else:
        offset = ahead if ahead <= 3 else ahead - 7  # nearest, within +-3 days
    day = ref + dt.timedelta(days=offset)
    return (start, end, day, day, "day", True, "word")


_Handler = Callable[[re.Match, dt.date | None, str], _Cand | None]
_REL_DAY_KEYS = ("today", "tonight", "tomorrow", "yesterday", "morning", "afternoon", "evening", "night")
_RELATIVE: list[tuple[re.Pattern, _Handler, tuple[str, ...]]] = [  # (regex, handler, key words)
    (_REL_DAY, _rel_day, _REL_DAY_KEYS),
    (_REL_PERIOD, _rel_period, ("week", "month", "year")),
    (_WEEKDAY, _weekday, _WEEKDAYS),
]


def _word_start(low: str, i: int, also: str = "_") -> bool:
    return i == 0 or not (low[i - 1].isalnum() or low[i - 1] in also)


def _candidates(low: str, text: str, ref: dt.date | None) -> list[_Cand]:
    out: list[_Cand] = []
    for num in _NUM.finditer(low):
        i, size = num.start(), num.end() - num.start()
        if size <= 4 and _word_start(low, i, "._-"):
            regex, handler = (_DAY_MONTH, _day_month) if size <= 2 else (_ISO, _iso)
            if (m := regex.match(low, i)) and (cand := handler(m, ref, text)):
                out.append(cand)
        if not i or not (low[i - 1].isspace() or low[i - 1] in ",."):
            continue  # a month or preposition leading the date ends in a space, comma or full stop
        if (lead := _LEAD.search(low, max(0, i - 20), i)) and _word_start(low, lead.start()):
            regex, handler = (_MONTH_LED, _month_led) if lead["mon"] else (_YEAR_LED, _year)
            if (m := regex.match(low, lead.start())) and (cand := handler(m, ref, text)):
                out.append(cand)
    if ref is None:
        return out
    for regex, handler, keys in _RELATIVE:
        if not any(map(low.__contains__, keys)):
            continue  # a key-word test costs a fraction of a microsecond, a regex scan several
        pos = 0
        while m := regex.search(low, pos):
            try:
                cand = handler(m, ref, text) if _word_start(low, m.start()) else None
            except (ValueError, OverflowError):  # a reference at the very edge of the calendar
                cand = None
            if cand:
                out.append(cand)
                pos = m.end()
            else:  # inside a word: retry from the next character
                pos = m.start() + 1
    return out


def find_dates(sentence: str, reference: dt.date | dt.datetime | None) -> list[DateRef]:
    """All date expressions in `sentence`, in order of appearance, non-overlapping (prefer the longest match).

    `reference` is the article's publication date; with None only dates carrying a year are returned.
    """
    ref = reference.date() if isinstance(reference, dt.datetime) else reference
    low = sentence.lower()
    if len(low) != len(sentence):  # a few characters ("İ") grow when lower-cased: keep offsets aligned
        low = "".join(c if len(c.lower()) > 1 else c.lower() for c in sentence)

    chosen: list[_Cand] = []
    for cand in sorted(_candidates(low, sentence, ref), key=lambda c: (c[0] - c[1], c[0])):
        if all(cand[1] <= other[0] or cand[0] >= other[1] for other in chosen):  # longest first
            chosen.append(cand)
    chosen = sorted((c for c in chosen if c[6] != "void"), key=lambda c: c[0])

    merged: list[_Cand] = []
    for cand in chosen:
        prev = merged[-1] if merged else None
        if prev and {prev[6], cand[6]} == {"word", "date"}:
            gap = sentence[prev[1] : cand[0]]
            if _GAP.fullmatch(gap):  # "today,1 September", "Tuesday (November 18, 2025)": explicit wins
                explicit = cand if cand[6] == "date" else prev
                end = cand[1] + (1 if "(" in gap and sentence[cand[1] : cand[1] + 1] == ")" else 0)
                merged[-1] = (prev[0], end, *explicit[2:6], "date")
                continue
        merged.append(cand)
    return [DateRef(sentence[s:e], s, e, d, ed, p, r) for s, e, d, ed, p, r, _ in merged]
