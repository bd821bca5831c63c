"""The timeline read model on both backends: the seeds' meetings, the merge across outlets, a preview that
becomes held, the third country's meeting left out, and a rebuild that equals the live state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.digest.timeline import build_timeline
from monitor.events import catalogue as ev
from monitor.views.projections import Projections
from monitor.views.tables import timeline
from monitor.views.timeline import sentence_meetings
from storage.eventlog import EventLog
from tests.timelines import TOPIC, Report, append_report, seed_reports


@pytest.fixture
def event_log(database_url: str) -> Iterator[EventLog]:
    log = EventLog.open(database_url, migrate=True, upcasters=ev.UPCASTERS)
    yield log
    log.close()


def at(day: str, hour: int = 9) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


TIANJIN_REWRITES = [
    Report("https://herald.example/modi-putin-tianjin", "Modi holds bilateral meeting with Putin in Tianjin",
           "Prime Minister Narendra Modi held a bilateral meeting with Russian President Vladimir Putin in Tianjin on "
           "Monday, on the sidelines of the SCO summit. The two leaders discussed energy and trade.",
           at("2025-09-01", 10), feed="herald"),
    Report("https://courier.example/2025/09/01/tianjin-talks", "Modi, Putin talk trade in Tianjin",
           "Narendra Modi and Vladimir Putin met for bilateral talks in Tianjin, China, on 1 September after the SCO "
           "summit. Oil purchases topped the agenda.", at("2025-09-01", 14), feed="courier"),
    Report("https://gazette.example/world/putin-modi-china", "Putin and Modi meet in China",
           "Indian Prime Minister Modi and Russian President Putin held a bilateral meeting in Tianjin yesterday, "
           "talking about energy and trade.", at("2025-09-02", 8), feed="gazette"),
]
PREVIEW = Report("https://herald.example/putin-to-visit-delhi", "Putin to visit New Delhi for annual summit",
                 "Russian President Vladimir Putin will travel to New Delhi for the annual summit with Prime Minister "
                 "Narendra Modi on December 4-5, the Kremlin said.", at("2025-11-20"), feed="herald")
COVERAGE = Report("https://courier.example/2025/12/05/annual-summit", "Modi and Putin hold annual summit in New Delhi",
                  "Prime Minister Narendra Modi and President Vladimir Putin held the 23rd annual summit in New Delhi "
                  "on Friday, December 5.", at("2025-12-05", 18), feed="courier")


def by_start(events: list[dict]) -> dict[str, dict]:
    return {e["start"]: e for e in events}


def test_the_seeds_alone_give_their_three_meetings(event_log: EventLog, shared_dir: Path) -> None:
    for report in seed_reports(shared_dir):
        assert append_report(event_log, report)
    events = build_timeline(event_log.engine)
    found = by_start(events)
    tianjin, kremlin, summit = found["2025-09-01"], found["2025-11-18"], found["2025-12-05"]
    assert (tianjin["place"], tianjin["participants"], tianjin["status"]) == (
        "Tianjin, China", ["Narendra Modi", "Vladimir Putin"], "held")
    assert tianjin["kind"] == "bilateral meeting" and tianjin["end"] == "2025-09-01"
    assert any(e["date_text"] == "today,1 September" for e in tianjin["evidence"])
    assert (kremlin["place"], kremlin["participants"], kremlin["status"]) == (
        "Moscow, Russia", ["Subrahmanyam Jaishankar", "Vladimir Putin"], "held")
    assert "Kremlin" in kremlin["evidence"][0]["sentence"]
    assert (summit["kind"], summit["participants"], summit["status"]) == (
        "summit", ["Narendra Modi", "Vladimir Putin"], "upcoming")
    assert "December 5" in summit["evidence"][0]["sentence"]
    # Upcoming first, then held, newest first.
    starts = [e["start"] for e in events]
    assert starts == sorted(starts, reverse=True) and events[0] is summit
    # The briefing ("Misri said ... in Tianjin on Sunday") is no Misri–Putin meeting: an official alone on a side.
    assert not any(e["start"] == "2025-08-31" or "Vikram Misri" in e["participants"] for e in events)
    # "Foreign Minister S Jaishankar met his Russian counterpart in Moscow on August 22": a meeting too, its
    # Russian side as the tagger describes it.
    assert (found["2025-08-22"]["place"], found["2025-08-22"]["participants"]) == (
        "Moscow, Russia", ["Russian counterpart", "Subrahmanyam Jaishankar"])
    # The seed's Modi–Xi meeting (31 August, Tianjin) makes no event, and no sentence about Xi is evidence.
    assert not any("Xi Jinping" in e["participants"] or e["start"] == "2025-08-31" for e in events)
    assert not any("Xi" in item["sentence"] for e in events for item in e["evidence"])
    assert build_timeline(event_log.engine, status="upcoming") == [summit]
    assert build_timeline(event_log.engine, date_from=dt.date(2025, 11, 1), date_to=dt.date(2025, 11, 30)) == [kremlin]


def test_three_outlets_rewrites_of_one_meeting_are_one_event(event_log: EventLog) -> None:
    for report in TIANJIN_REWRITES:
        assert append_report(event_log, report)
    (event,) = build_timeline(event_log.engine)
    assert (event["start"], event["end"], event["place"], event["status"]) == (
        "2025-09-01", "2025-09-01", "Tianjin, China", "held")
    assert event["articles"] == 3
    assert event["outlets"] == ["courier.example", "gazette.example", "herald.example"]
    assert {e["date_text"] for e in event["evidence"]} == {"Monday", "1 September", "yesterday"}
    assert event["first_reported"] == at("2025-09-01", 10).isoformat()
    assert event["last_reported"] == at("2025-09-02", 8).isoformat()


def test_a_meeting_elsewhere_or_on_another_day_is_another_event(event_log: EventLog) -> None:
    moscow = Report("https://herald.example/modi-putin-moscow", "Modi meets Putin in Moscow",
                    "Prime Minister Narendra Modi held a bilateral meeting with President Vladimir Putin in Moscow on "
                    "Monday.", at("2025-09-01", 12), feed="herald")
    for report in [TIANJIN_REWRITES[0], moscow, PREVIEW]:
        append_report(event_log, report)
    events = build_timeline(event_log.engine)
    # The preview says where Putin travels ("to New Delhi"), not where they meet: it gives no place.
    assert sorted((e["start"], e["place"] or "") for e in events) == [
        ("2025-09-01", "Moscow, Russia"), ("2025-09-01", "Tianjin, China"), ("2025-12-04", "")]


def test_a_preview_becomes_held_when_coverage_says_it_happened(event_log: EventLog) -> None:
    append_report(event_log, PREVIEW)
    (preview,) = build_timeline(event_log.engine)
    assert (preview["status"], preview["start"], preview["end"]) == ("upcoming", "2025-12-04", "2025-12-05")
    append_report(event_log, COVERAGE)
    (event,) = build_timeline(event_log.engine)
    assert (event["status"], event["place"], event["articles"]) == ("held", "New Delhi, India", 2)
    assert (event["start"], event["end"]) == ("2025-12-05", "2025-12-05")  # the precise date of the coverage


def test_a_third_countrys_participant_makes_no_event() -> None:
    sentence = {"text": "Modi met Xi Jinping and Putin in Tianjin on Monday.", "field": "text", "history": False,
                "context": False, "terms": ["Modi", "Putin", "Xi Jinping", "met"], "groups": ["india_leader"],
                "dates": [{"text": "Monday", "date": "2025-09-01", "end_date": "2025-09-01"}]}
    assert sentence_meetings({"evidence": [sentence]}) == []
    without_xi = {**sentence, "terms": ["Modi", "Putin", "met"]}
    assert [m["participants"] for m in sentence_meetings({"evidence": [without_xi]})] == [
        ["Narendra Modi", "Vladimir Putin"]]
    # The tagger's own participants win over the terms, and a side "third" among them rules the sentence out.
    named = {**without_xi, "participants": [{"name": "Narendra Modi", "side": "india", "role": "leader"},
                                            {"name": "Xi Jinping", "side": "third", "role": "leader"},
                                            {"name": "Vladimir Putin", "side": "russia", "role": "leader"}]}
    assert sentence_meetings({"evidence": [named]}) == []


def test_a_sentence_that_also_names_a_third_countrys_leader_joins_no_event() -> None:
    # The demo's Tianjin article: the tagger's participants for the sentence (its clause with Putin) are
    # Modi and Putin, but the sentence's other clause has talks with China's president.
    people = [{"name": "Narendra Modi", "side": "india", "role": "leader"},
              {"name": "Vladimir Putin", "side": "russia", "role": "leader"}]
    text = ("Modi was due to fly back to New Delhi after the meeting with Putin, ending a visit to China that also "
            "included talks with Chinese President Xi Jinping on Sunday.")
    sentence = {"text": text, "field": "text", "history": False, "context": False, "participants": people,
                "terms": ["Modi", "Putin", "meeting with"], "groups": ["india_leader", "russia_leader"],
                "dates": [{"text": "Sunday", "date": "2025-08-31", "end_date": "2025-08-31"}]}
    assert sentence_meetings({"evidence": [sentence]}) == []
    minister = {**sentence, "text": "Lavrov met Jaishankar on Sunday, a day after seeing China's Foreign Minister."}
    assert sentence_meetings({"evidence": [minister]}) == []
    # A third country as a place, or the sides' own leaders by their countries, keep the meeting.
    for kept in ("Modi met Putin at the summit in Tianjin, China, on Sunday.",
                 "Indian Prime Minister Modi met Russian President Putin in China on Sunday."):
        assert [m["participants"] for m in sentence_meetings({"evidence": [{**sentence, "text": kept}]})] == [
            ["Narendra Modi", "Vladimir Putin"]]


def test_sentences_that_do_not_count_make_no_event() -> None:
    base = {"text": "Modi met Putin in Moscow on July 8.", "field": "text", "terms": ["Modi", "Putin", "met"],
            "groups": [], "dates": [{"text": "July 8", "date": "2024-07-08", "end_date": "2024-07-08"}]}
    assert sentence_meetings({"evidence": [{**base, "history": True, "context": False}]}) == []
    assert sentence_meetings({"evidence": [{**base, "history": False, "context": True}]}) == []
    assert sentence_meetings({"evidence": [{**base, "history": False, "context": False, "dates": []}]}) == []
    (one,) = sentence_meetings({"evidence": [{**base, "history": False, "context": False}]})
    assert (one["start"], one["place"]) == ("2024-07-08", {"country": "Russia", "city": "Moscow"})


def test_a_retracted_tag_leaves_the_timeline(event_log: EventLog) -> None:
    append_report(event_log, TIANJIN_REWRITES[0])
    assert len(build_timeline(event_log.engine)) == 1
    article = TIANJIN_REWRITES[0].article_id
    (tag,) = [e.position for e in event_log.read() if e.type == "MentionTagged"]
    event_log.append([ev.mention_retracted(article, TOPIC, "v2", at("2025-09-03"), {
        "previous_decision": "mention", "decision": "none", "score": 0.1}, supersedes=tag)])
    Projections(event_log.engine, upcasters=ev.UPCASTERS).catch_up()
    assert build_timeline(event_log.engine) == []


def test_rebuild_equals_the_live_timeline(event_log: EventLog, shared_dir: Path, database_url: str) -> None:
    for report in [*seed_reports(shared_dir), *TIANJIN_REWRITES, PREVIEW, COVERAGE]:
        append_report(event_log, report)

    def rows() -> list[dict]:
        with event_log.engine.connect() as conn:
            return sorted((dict(r) for r in conn.execute(select(timeline)).mappings()), key=repr)

    live, live_events = rows(), build_timeline(event_log.engine)
    # The seed's summit preview, the herald's and the courier's coverage are one event; Tianjin is one with four.
    assert len(live) == 7 and [(e["start"], e["articles"]) for e in live_events] == [
        ("2025-12-05", 3), ("2025-11-18", 1), ("2025-09-01", 4), ("2025-08-22", 1)]
    Projections(event_log.engine, upcasters=ev.UPCASTERS).rebuild(["timeline"])
    assert rows() == live
    # Read through another engine: nothing kept from the live read (build_timeline keeps a read per engine).
    fresh = EventLog.open(database_url, migrate=True, upcasters=ev.UPCASTERS)
    try:
        assert build_timeline(fresh.engine) == live_events
    finally:
        fresh.close()


def test_a_read_is_kept_until_a_view_moves(event_log: EventLog) -> None:
    append_report(event_log, PREVIEW)
    first = build_timeline(event_log.engine)
    assert build_timeline(event_log.engine)[0] is first[0]  # the same checkpoints: the same events
    append_report(event_log, COVERAGE)
    (moved,) = build_timeline(event_log.engine)
    assert moved is not first[0] and moved["articles"] == 2
