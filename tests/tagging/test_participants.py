"""Who takes part: a third country's leader or official that no list names, officials below minister level,
names an article introduces, and the clause that reports the meeting. With the shipped topic, in English,
Russian and Hindi. Sentences written for these tests; the countries are chosen because no keyword group
names them (the gazetteer must know them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.config import load_config
from monitor.language.gazetteer import gazetteer, russian_forms
from monitor.language.text import tokens
from monitor.tagging.rules import Tagger, TopicResult
from storage.eventlog import EventLog
from tests.builders import SHIPPED_CONFIG, article_page, cli, rss

TOPIC = "india-russia-summit"
DAY = dt.date(2026, 3, 10)


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(load_config(SHIPPED_CONFIG))


def tag(tagger: Tagger, title: str, text: str = "") -> TopicResult:
    return tagger.tag(title, text, DAY)[TOPIC]


def test_no_keyword_group_names_the_third_countries_used_here() -> None:
    topic = load_config(SHIPPED_CONFIG).topics[0]
    words = {w.lower() for terms in topic.keywords.values() for term in terms for w in term.split()}
    for name in ("paraguay", "paraguayan", "парагвая", "finnish", "chilean", "норвегии", "चिली", "फ़िनलैंड"):
        assert name not in words


# Each would be an India–Russia meeting by its words alone (a side's leader, the other side, a meeting word).
THIRD_COUNTRY = [
    "Lavrov held talks in New Delhi with the Foreign Minister of Paraguay.",
    "Jaishankar met his Chilean counterpart in Moscow on Tuesday.",
    "Putin received the Finnish President in the Kremlin, then flew to New Delhi.",
    "Лавров провёл переговоры в Нью-Дели с министром иностранных дел Парагвая.",
    "Моди прибыл в Москву и встретился с премьер-министром Норвегии.",
    "लावरोव ने नई दिल्ली में चिली के विदेश मंत्री से मुलाकात की।",
]


@pytest.mark.parametrize("sentence", THIRD_COUNTRY)
def test_a_third_country_participant_on_no_list_blocks_the_sentence(tagger: Tagger, sentence: str) -> None:
    result = tag(tagger, sentence)
    assert result.decision == "none", (sentence, result.decision)
    [blocked] = result.blocked
    assert "third_country" in blocked["by"]
    assert any(p["side"] == "third" and p.get("country") in {"PY", "CL", "FI", "NO"}
               for p in blocked["participants"])


def test_the_same_sentences_with_the_other_side_count(tagger: Tagger) -> None:
    """The near misses above differ from a report of the meeting only in the third country."""
    for sentence in ("Lavrov held talks in New Delhi with the Foreign Minister of India.",
                     "Jaishankar met his Russian counterpart in Moscow on Tuesday.",
                     "Лавров провёл переговоры в Нью-Дели с министром иностранных дел Индии.",
                     "लावरोव ने नई दिल्ली में भारत के विदेश मंत्री से मुलाकात की।"):
        assert tag(tagger, sentence).decision == "mention", sentence


LOWER_OFFICIALS = [
    "India's Defence Minister met Putin in Moscow on Monday.",
    "Russia's Security Council Secretary held talks with Modi in New Delhi.",
    "Senior Indian diplomats held bilateral talks with Lavrov.",
    "Министр обороны Индии встретился с Путиным в Москве.",
    "Путин встретился с советником премьер-министра Индии по национальной безопасности.",
    "भारत के रक्षा मंत्री ने मॉस्को में पुतिन से मुलाकात की।",
]


@pytest.mark.parametrize("sentence", LOWER_OFFICIALS)
def test_a_side_present_only_as_a_lower_official_does_not_count(tagger: Tagger, sentence: str) -> None:
    result = tag(tagger, sentence)
    assert result.decision == "none", (sentence, result.decision, result.evidence)


@pytest.mark.parametrize("sentence", [
    "Modi, with his National Security Adviser beside him, met Putin in Moscow.",
    "India's Prime Minister met Putin in Moscow on Monday.",
    "Премьер-министр Индии встретился с Путиным в Москве.",
    "भारत के प्रधानमंत्री ने मॉस्को में पुतिन से मुलाकात की।",
])
def test_a_leader_counts_whoever_accompanies_them(tagger: Tagger, sentence: str) -> None:
    assert tag(tagger, sentence).decision == "mention", sentence


def test_a_leaders_title_with_a_country_names_that_side(tagger: Tagger) -> None:
    result = tag(tagger, "Jaishankar met his Russian counterpart in Moscow on Tuesday.")
    [item] = result.evidence
    assert {(p["name"], p["side"], p["role"]) for p in item["participants"]} == {
        ("Subrahmanyam Jaishankar", "india", "minister"), ("Russian counterpart", "russia", "leader")}


def test_people_are_named_by_their_canonical_name_in_every_language(tagger: Tagger) -> None:
    for sentence in ("Modi met Putin in Moscow.", "Моди встретился с Путиным в Москве.",
                     "मोदी ने मॉस्को में पुतिन से मुलाकात की।"):
        [item] = tag(tagger, sentence).evidence
        assert {p["name"] for p in item["participants"]} == {"Narendra Modi", "Vladimir Putin"}, sentence


def test_a_name_the_article_introduces_with_a_title_is_known_after(tagger: Tagger) -> None:
    """No list names this prime minister; the first sentence says whose prime minister he is."""
    result = tag(tagger, "Indian Prime Minister Arjun Varma arrives",
                 "Indian Prime Minister Arjun Varma landed on Thursday evening.\n"
                 "Varma held talks with the Russian President in the Kremlin.")
    assert result.decision == "mention"
    [item] = [e for e in result.evidence if "Kremlin" in e["text"]]
    assert ("Arjun Varma", "india", "leader") in {(p["name"], p["side"], p["role"]) for p in item["participants"]}


def test_a_name_introduced_as_a_third_countrys_leader_blocks_later(tagger: Tagger) -> None:
    result = tag(tagger, "Visit", "Chilean President Tomas Ruiz arrived in New Delhi.\n"
                                  "Ruiz and Modi met Lavrov for talks in New Delhi.")
    assert result.decision == "none"
    assert any("third_country" in b["by"] for b in result.blocked)


def test_the_clause_that_reports_the_meeting_counts(tagger: Tagger) -> None:
    sentence = ("Weeks after his talks with the Paraguayan President in Asuncion, Modi met Putin in Moscow "
                "on Monday for their annual summit.")
    [item] = tag(tagger, sentence).evidence
    assert item["clause"] == "Modi met Putin in Moscow on Monday for their annual summit"


def test_a_clause_of_circumstance_does_not(tagger: Tagger) -> None:
    result = tag(tagger, "Before the Modi-Putin meeting, the Finnish President spoke with Modi by video.")
    assert result.decision == "none"


def test_who_met_is_read_after_between(tagger: Tagger) -> None:
    result = tag(tagger, "The Paraguayan President criticised the meeting between Modi and Putin in Moscow.")
    assert result.decision == "mention"
    [item] = result.evidence
    assert item["clause"].startswith("meeting between Modi and Putin")


def test_a_sentence_that_recalls_the_past_is_history(tagger: Tagger) -> None:
    result = tag(tagger, "Modi in Helsinki",
                 "Напомним, Моди посетил Россию, где провёл переговоры с Путиным.")
    assert [e["history"] for e in result.evidence] == [True]
    assert result.rule_score < 0.5


def test_the_gazetteer_knows_countries_in_three_languages() -> None:
    g = gazetteer()
    for text, code in (("the Paraguayan delegation", "PY"), ("президентом Финляндии", "FI"),
                       ("चिली के राष्ट्रपति", "CL"), ("a US envoy", "US"), ("госсекретарь США", "US")):
        assert code in {h.term.group for h in g.find(tokens(text), text)}, text
    assert not g.find(tokens("he told us and them"), "he told us and them")  # "us" and "AND" are no countries


def test_russian_country_names_decline() -> None:
    assert {"Индии", "Индию", "Индией"} <= russian_forms("Индия")
    assert {"Китая", "Китаю", "Китае", "Китаем"} <= russian_forms("Китай")
    assert {"Пакистана", "Пакистане", "Пакистаном"} <= russian_forms("Пакистан")


def test_explain_shows_participants_and_what_did_not_count(httpserver: HTTPServer,
                                                           write_config: Callable[..., Path],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    base = httpserver.url_for("").rstrip("/")
    title = "Modi met Putin in Moscow for their annual summit"
    text = ("Modi met Putin in Moscow on Monday for their annual summit.\n"
            "On Tuesday Lavrov held talks in Moscow with the Foreign Minister of Paraguay and Modi's aides.")
    httpserver.expect_request("/feed.xml").respond_with_data(rss(base, [("talks", title, "2026-03-09")]),
                                                             content_type="application/rss+xml")
    httpserver.expect_request("/articles/talks.html").respond_with_data(
        article_page(title, text), content_type="text/html; charset=utf-8")
    config = write_config([{"name": "news", "url": f"{base}/feed.xml"}])
    assert cli(capsys, "--config", str(config), "poll")[0] == 0
    log = EventLog.open(load_config(config).storage.url, migrate=True)
    try:
        (event,) = log.read(types=["ArticleExtracted"])
    finally:
        log.close()
    code, out, _ = cli(capsys, "--config", str(config), "explain", event.stream.removeprefix("article:"))
    assert code == 0
    assert "participants: Narendra Modi (india, leader) · Vladimir Putin (russia, leader)" in out
    assert "(does not count: third_country)" in out
    assert "Foreign Minister of Paraguay (third country PY, leader)" in out


def test_a_sentence_of_thousands_of_titles_and_clauses_is_read_in_bounded_work(tagger: Tagger) -> None:
    """Hostile text: pairing titles with countries and reading clauses alone are bounded per sentence, so
    this finishes (quadratic work would take minutes) and still finds the third country first named."""
    sentence = "Modi met Putin in Moscow with " + ", ".join(["the President of Chile"] * 4000) + "."
    result = tag(tagger, sentence)
    assert result.decision == "none"
    assert "third_country" in result.blocked[0]["by"]
