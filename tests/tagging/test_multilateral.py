"""A summit of many (G20, BRICS, SCO) is not an India–Russia meeting unless the sentence says the two met
apart: in English, Russian and Hindi, with the shipped topic. Sentences written for this test."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.config import load_config
from monitor.tagging.rules import Tagger
from tests.builders import SHIPPED_CONFIG

TOPIC = "india-russia-summit"
DAY = dt.date(2026, 3, 10)


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(load_config(SHIPPED_CONFIG))


MULTILATERAL_ONLY = [
    "Putin may join the G20 summit in New Delhi by video, the Kremlin said.",
    "Russia and India will both send delegations to the BRICS summit in Kazan.",
    "Путин примет участие в саммите БРИКС в Индии по видеосвязи.",
    "Россия и Индия обсудят климат на саммите большой двадцатки.",
    "पुतिन भारत में होने वाले जी20 शिखर सम्मेलन में शामिल हो सकते हैं।",
    "रूस और भारत ब्रिक्स शिखर सम्मेलन में हिस्सा लेंगे।",
]
BILATERAL_AT_A_MULTILATERAL = [
    "Modi and Putin held bilateral talks on the sidelines of the SCO summit in Astana.",
    "On the sidelines of the G20 summit, Jaishankar met with Lavrov.",
    "Моди и Путин провели двустороннюю встречу на полях саммита ШОС.",
    "Лавров провёл переговоры с Джайшанкаром в кулуарах саммита БРИКС.",
    "मोदी ने एससीओ शिखर सम्मेलन से इतर पुतिन से मुलाकात की।",
    "जी20 बैठक के दौरान जयशंकर और लावरोव के बीच द्विपक्षीय वार्ता हुई।",
]


@pytest.mark.parametrize("sentence", MULTILATERAL_ONLY)
def test_a_summit_of_many_is_not_a_meeting_of_the_two(tagger: Tagger, sentence: str) -> None:
    result = tagger.tag(sentence, "", DAY)[TOPIC]
    assert result.decision == "none", (sentence, result.decision)


@pytest.mark.parametrize("sentence", BILATERAL_AT_A_MULTILATERAL)
def test_a_bilateral_meeting_at_a_summit_of_many_counts(tagger: Tagger, sentence: str) -> None:
    result = tagger.tag(sentence, "", DAY)[TOPIC]
    assert result.decision == "mention", (sentence, result.decision)


def test_without_the_multilateral_clause_these_sentences_would_count(tagger: Tagger) -> None:
    """The sentences above are near misses: the other parts of the rule hold in them."""
    config = load_config(SHIPPED_CONFIG)
    topic = config.topics[0]
    assert topic.rule is not None and topic.rule.all is not None
    kept = [clause for clause in topic.rule.all if "multilateral" not in repr(clause)]
    assert len(kept) == len(topic.rule.all) - 1
    rule = topic.rule.model_copy(update={"all": kept})
    loose = Tagger(config.model_copy(update={"topics": [topic.model_copy(update={"rule": rule})]}))
    counted = [s for s in MULTILATERAL_ONLY if loose.tag(s, "", DAY)[TOPIC].decision != "none"]
    assert len(counted) >= 4, counted
