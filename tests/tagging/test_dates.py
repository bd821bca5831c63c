"""Tests for monitor.tagging.dates.find_dates.

Every expected date was worked out by hand from the calendar, not copied from the output.  Useful
anchors: 2025-09-01 is a Monday, 2025-11-18 a Tuesday, 2025-12-31 a Wednesday, 2026-01-03 a Saturday;
2024 and 2028 are leap years, 2025 and 2026 are not.
"""

import datetime as dt

import pytest

from monitor.tagging.dates import DateRef, find_dates

D = dt.date
NOV18 = D(2025, 11, 18)  # Tuesday

# (sentence, reference, [(text, date, end_date, precision, relative), ...])
REAL_ARTICLES = [
    (
        "Prime Minister Narendra Modi will hold a bilateral meeting with Russian President Vladimir Putin "
        "today,1 September, following the SCO summit",
        D(2025, 9, 1),
        [("today,1 September", D(2025, 9, 1), D(2025, 9, 1), "day", True)],
    ),
    (
        "briefed the Russian leader on preparations underway for the next India–Russia Summit "
        "scheduled around December 5.",
        NOV18,
        [("December 5", D(2025, 12, 5), D(2025, 12, 5), "day", True)],
    ),
    (
        "The last Summit was held on July 8-9, 2024 in Moscow.",
        NOV18,
        [("July 8-9, 2024", D(2024, 7, 8), D(2024, 7, 9), "day", False)],
    ),
    (
        "the EAM met Putin at the Kremlin on Tuesday (November 18, 2025)",
        NOV18,
        [("Tuesday (November 18, 2025)", NOV18, NOV18, "day", False)],
    ),
    (
        "Russian President Putin is expected to visit India early next month",
        NOV18,
        [("early next month", D(2025, 12, 1), D(2025, 12, 31), "month", True)],
    ),
]

ABSOLUTE = [
    ("on 1 September 2025", None, [("1 September 2025", D(2025, 9, 1), D(2025, 9, 1), "day", False)]),
    ("on September 1, 2025", None, [("September 1, 2025", D(2025, 9, 1), D(2025, 9, 1), "day", False)]),
    ("by Sept. 1", D(2025, 8, 20), [("Sept. 1", D(2025, 9, 1), D(2025, 9, 1), "day", True)]),
    ("from 1st September", D(2025, 8, 20), [("1st September", D(2025, 9, 1), D(2025, 9, 1), "day", True)]),
    (
        "the 1st of September 2025",
        None,
        [("1st of September 2025", D(2025, 9, 1), D(2025, 9, 1), "day", False)],
    ),
    ("released 2025-09-01 at noon", None, [("2025-09-01", D(2025, 9, 1), D(2025, 9, 1), "day", False)]),
    ("talks on 8–9 July 2024 ended", None, [("8–9 July 2024", D(2024, 7, 8), D(2024, 7, 9), "day", False)]),
    ("talks on 8-9 July 2024 ended", None, [("8-9 July 2024", D(2024, 7, 8), D(2024, 7, 9), "day", False)]),
    ("meet on 8 and 9 July", D(2025, 6, 20), [("8 and 9 July", D(2025, 7, 8), D(2025, 7, 9), "day", True)]),
    ("Tuesday, November 18, 2025", None, [("November 18, 2025", NOV18, NOV18, "day", False)]),
    ("Tuesday, November 18, 2025", NOV18, [("Tuesday, November 18, 2025", NOV18, NOV18, "day", False)]),
    ("due in December 2025", None, [("December 2025", D(2025, 12, 1), D(2025, 12, 31), "month", False)]),
    ("since February 2024", None, [("February 2024", D(2024, 2, 1), D(2024, 2, 29), "month", False)]),
    ("sales rose in May 2025", None, [("May 2025", D(2025, 5, 1), D(2025, 5, 31), "month", False)]),
    ("signed on 5 May", D(2025, 4, 1), [("5 May", D(2025, 5, 5), D(2025, 5, 5), "day", True)]),
    ("signed on May 5", D(2025, 4, 1), [("May 5", D(2025, 5, 5), D(2025, 5, 5), "day", True)]),
    ("elected in 2024", None, [("2024", D(2024, 1, 1), D(2024, 12, 31), "year", False)]),
    ("net zero by early 2030", None, [("2030", D(2030, 1, 1), D(2030, 12, 31), "year", False)]),
    ("from 2020 to 2024", None, [("2020 to 2024", D(2020, 1, 1), D(2024, 12, 31), "year", False)]),
    ("between 2020 and 2024", None, [("2020 and 2024", D(2020, 1, 1), D(2024, 12, 31), "year", False)]),
    (
        "leap day February 29, 2024",
        None,
        [("February 29, 2024", D(2024, 2, 29), D(2024, 2, 29), "day", False)],
    ),
]

RELATIVE = [
    ("today", NOV18, [("today", NOV18, NOV18, "day", True)]),
    ("Tonight the vote", NOV18, [("Tonight", NOV18, NOV18, "day", True)]),
    ("this morning", NOV18, [("this morning", NOV18, NOV18, "day", True)]),
    ("tomorrow", NOV18, [("tomorrow", D(2025, 11, 19), D(2025, 11, 19), "day", True)]),
    ("yesterday", NOV18, [("yesterday", D(2025, 11, 17), D(2025, 11, 17), "day", True)]),
    ("last night", NOV18, [("last night", D(2025, 11, 17), D(2025, 11, 17), "day", True)]),
    ("this week", NOV18, [("this week", D(2025, 11, 17), D(2025, 11, 23), "day", True)]),
    ("next week", NOV18, [("next week", D(2025, 11, 24), D(2025, 11, 30), "day", True)]),
    ("last week", NOV18, [("last week", D(2025, 11, 10), D(2025, 11, 16), "day", True)]),
    ("this month", NOV18, [("this month", D(2025, 11, 1), D(2025, 11, 30), "month", True)]),
    ("later this month", NOV18, [("later this month", D(2025, 11, 1), D(2025, 11, 30), "month", True)]),
    ("next month", NOV18, [("next month", D(2025, 12, 1), D(2025, 12, 31), "month", True)]),
    ("last month", NOV18, [("last month", D(2025, 10, 1), D(2025, 10, 31), "month", True)]),
    ("next year", NOV18, [("next year", D(2026, 1, 1), D(2026, 12, 31), "year", True)]),
    ("last year", NOV18, [("last year", D(2024, 1, 1), D(2024, 12, 31), "year", True)]),
    # weekday names: the occurrence within 3 days of Tuesday 2025-11-18
    ("on Tuesday", NOV18, [("Tuesday", NOV18, NOV18, "day", True)]),
    ("on Monday", NOV18, [("Monday", D(2025, 11, 17), D(2025, 11, 17), "day", True)]),
    ("on Friday", NOV18, [("Friday", D(2025, 11, 21), D(2025, 11, 21), "day", True)]),
    ("on Saturday", NOV18, [("Saturday", D(2025, 11, 15), D(2025, 11, 15), "day", True)]),
    ("on Sunday", NOV18, [("Sunday", D(2025, 11, 16), D(2025, 11, 16), "day", True)]),
    ("next Tuesday", NOV18, [("next Tuesday", D(2025, 11, 25), D(2025, 11, 25), "day", True)]),
    ("next Monday", NOV18, [("next Monday", D(2025, 11, 24), D(2025, 11, 24), "day", True)]),
    ("last Tuesday", NOV18, [("last Tuesday", D(2025, 11, 11), D(2025, 11, 11), "day", True)]),
    ("last Friday", NOV18, [("last Friday", D(2025, 11, 14), D(2025, 11, 14), "day", True)]),
]

ROLLOVER = [
    ("around December 28", D(2026, 1, 3), [("December 28", D(2025, 12, 28), D(2025, 12, 28), "day", True)]),
    ("by January 4", D(2025, 12, 20), [("January 4", D(2026, 1, 4), D(2026, 1, 4), "day", True)]),
    ("on 3 January", D(2025, 12, 30), [("3 January", D(2026, 1, 3), D(2026, 1, 3), "day", True)]),
    # 176 days ahead beats 189 days back; 179 days back beats 186 days ahead
    ("on June 30", D(2025, 1, 5), [("June 30", D(2025, 6, 30), D(2025, 6, 30), "day", True)]),
    ("on July 10", D(2025, 1, 5), [("July 10", D(2024, 7, 10), D(2024, 7, 10), "day", True)]),
    ("on February 29", D(2028, 3, 15), [("February 29", D(2028, 2, 29), D(2028, 2, 29), "day", True)]),
    ("tomorrow", D(2025, 12, 31), [("tomorrow", D(2026, 1, 1), D(2026, 1, 1), "day", True)]),
    ("yesterday", D(2024, 3, 1), [("yesterday", D(2024, 2, 29), D(2024, 2, 29), "day", True)]),
    ("this week", D(2025, 12, 31), [("this week", D(2025, 12, 29), D(2026, 1, 4), "day", True)]),
    ("next month", D(2025, 12, 15), [("next month", D(2026, 1, 1), D(2026, 1, 31), "month", True)]),
    ("last month", D(2026, 1, 10), [("last month", D(2025, 12, 1), D(2025, 12, 31), "month", True)]),
]

MIXED = [
    (
        "Held in 2023, the summit returns on 5 May 2025 and again next year",
        D(2025, 1, 10),
        [
            ("2023", D(2023, 1, 1), D(2023, 12, 31), "year", False),
            ("5 May 2025", D(2025, 5, 5), D(2025, 5, 5), "day", False),
            ("next year", D(2026, 1, 1), D(2026, 12, 31), "year", True),
        ],
    ),
    # the explicit date wins over a weekday that would resolve elsewhere (article a week later)
    (
        "the EAM met Putin on Tuesday (November 18, 2025)",
        D(2025, 11, 25),
        [("Tuesday (November 18, 2025)", NOV18, NOV18, "day", False)],
    ),
    # upper-cased text and a character that grows when lower-cased keep offsets right
    ("İSTANBUL TALKS ON 5 MAY 2025", None, [("5 MAY 2025", D(2025, 5, 5), D(2025, 5, 5), "day", False)]),
]

NO_DATES = [
    ("Putin may visit India", NOV18),
    ("They will march on the capital", NOV18),
    ("They will march 5 km to the square", NOV18),
    ("the 3 may abstain", NOV18),
    ("Section 5 of the act", NOV18),
    ("Stage 2 of 3", NOV18),
    ("Rule 5 of March", NOV18),
    ("Call +91 11 2301 2345 for details", NOV18),
    ("Call 011-2301-2345 or (202) 555-0143", NOV18),
    ("Markets are closed on Sundays", NOV18),
    ("He scored 2024 points", NOV18),
    ("budget for fiscal year in 2024-25", NOV18),
    ("It was the last summit", NOV18),
    ("February 30, 2025", NOV18),
    ("on February 30", NOV18),
    ("31 April 2025", NOV18),
    ("February 29, 2025", NOV18),
    # without a reference: relative words and yearless day + month are skipped
    ("today", None),
    ("next month", None),
    ("on Tuesday", None),
    ("around December 5", None),
]

CASES = REAL_ARTICLES + ABSOLUTE + RELATIVE + ROLLOVER + MIXED


def _as_tuples(refs: list[DateRef]) -> list[tuple]:
    return [(r.text, r.date, r.end_date, r.precision, r.relative) for r in refs]


@pytest.mark.parametrize(("sentence", "reference", "expected"), CASES, ids=[c[0][:50] for c in CASES])
def test_find_dates(sentence, reference, expected):
    refs = find_dates(sentence, reference)
    assert _as_tuples(refs) == expected
    for r in refs:
        assert sentence[r.start : r.end] == r.text


@pytest.mark.parametrize(("sentence", "reference"), NO_DATES, ids=[c[0][:50] for c in NO_DATES])
def test_no_dates(sentence, reference):
    assert find_dates(sentence, reference) == []


def test_reference_none_keeps_absolute_dates():
    sentence = "The last Summit was held on July 8-9, 2024 in Moscow; the next is around December 5."
    assert _as_tuples(find_dates(sentence, None)) == [
        ("July 8-9, 2024", D(2024, 7, 8), D(2024, 7, 9), "day", False)
    ]


def test_datetime_reference():
    assert _as_tuples(find_dates("tomorrow", dt.datetime(2025, 11, 18, 23, 30))) == [
        ("tomorrow", D(2025, 11, 19), D(2025, 11, 19), "day", True)
    ]


def test_offsets_and_as_dict():
    sentence = "The last Summit was held on July 8-9, 2024 in Moscow."
    (ref,) = find_dates(sentence, None)
    assert (ref.start, ref.end) == (28, 42)
    assert ref.as_dict() == {
        "text": "July 8-9, 2024",
        "start": 28,
        "end": 42,
        "date": "2024-07-08",
        "end_date": "2024-07-09",
        "precision": "day",
        "relative": False,
    }


def test_dateref_is_frozen():
    (ref,) = find_dates("on 1 September 2025", None)
    with pytest.raises(AttributeError):
        ref.text = "x"

