"""The event catalogue: payload models per schema, upcasters between them, keys from data."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.events import catalogue as ev
from monitor.events import payloads

T0 = dt.datetime(2025, 12, 4, 9, 0, tzinfo=dt.UTC)
ARTICLE = ev.article_id("https://news.example/a")


def test_every_old_schema_has_an_upcaster_to_the_current_one() -> None:
    for (event_type, schema) in payloads.MODELS:
        assert ev.UPCASTERS.latest(event_type) == payloads.SCHEMAS[event_type], event_type
        if schema < payloads.SCHEMAS[event_type]:
            upcast_schema, _ = ev.UPCASTERS.upcast(event_type, schema, {"reason": "timeout"})
            assert upcast_schema == payloads.SCHEMAS[event_type]


def test_a_v1_extraction_failure_upcasts_to_a_valid_v2_payload() -> None:
    v1 = {"article_id": ARTICLE, "url": "https://news.example/a", "reason": "not_html",
          "message": "https://news.example/a is application/pdf, not an HTML page", "fallback": None}
    payloads.check(ev.EXTRACTION_FAILED, 1, v1)
    with pytest.raises(ValueError, match="stage: Field required"):
        payloads.check(ev.EXTRACTION_FAILED, 2, v1)
    schema, v2 = ev.UPCASTERS.upcast(ev.EXTRACTION_FAILED, 1, v1)
    payloads.check(ev.EXTRACTION_FAILED, schema, v2)
    assert (schema, v2["stage"]) == (2, "extract")


def test_constructors_refuse_a_malformed_payload_at_the_append() -> None:
    with pytest.raises(ValueError, match="MentionTagged schema 1: score: Input should be less than or equal to 1"):
        ev.mention_tagged(ARTICLE, "india-russia-summit", "v1", T0, {"mention": True, "decision": "mention",
                                                                    "score": 2.0})
    with pytest.raises(ValueError, match="FeedPolled schema 1: status: Input should be 'ok'"):
        ev.feed_polled("tass-world", "attempt", T0, {"url": "https://tass.com/rss/v2.xml", "status": "fine"})


def test_events_carry_their_current_schema_and_keys_from_data() -> None:
    failed = ev.extraction_failed(ARTICLE, T0, {"url": None, "reason": "no_link", "message": "no link"})
    assert (failed.schema, failed.data["stage"], failed.key) == (2, "fetch", f"ExtractionFailed:{ARTICLE}")
    tagged = ev.mention_tagged(ARTICLE, "india-russia-summit", "v7", T0, {"mention": True, "decision": "mention",
                                                                          "score": 0.9, "explanation": {"x": 1}})
    assert tagged.key == f"MentionTagged:{ARTICLE}:india-russia-summit:v7" and tagged.schema == 1
    assert tagged.data["explanation"] == {"x": 1}  # extra detail is kept
    assert ev.article_id("https://news.example/a") == ARTICLE  # the same URL, the same identity


def test_nul_characters_are_dropped_from_payloads() -> None:
    """PostgreSQL's JSONB cannot store U+0000, which feeds sometimes carry; it means nothing in text."""
    event = ev.article_discovered(ARTICLE, T0, {"feed": "f", "url": "https://news.example/a",
                                                "canonical_url": "https://news.example/a", "title": "Modi\x00 meets",
                                                "extra": {"list": ["a\x00b"]}})
    assert event.data["title"] == "Modi meets" and event.data["extra"] == {"list": ["ab"]}
