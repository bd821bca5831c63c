"""The shipped India–Russia summit topic in Russian and Hindi: inflected names and meeting words tag a report
of a Modi–Putin meeting, unrelated and near-miss sentences are not tagged, and the detected language is
recorded in the result, in the `tag` command's output and in ArticleExtracted / MentionTagged."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.config import load_config
from monitor.tagging.rules import Tagger, term_languages
from storage.eventlog import EventLog
from tests.builders import SHIPPED_CONFIG, article_page, cli, rss

TOPIC = "india-russia-summit"
DAY = dt.date(2026, 3, 10)


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(load_config(SHIPPED_CONFIG))


def decision(tagger: Tagger, title: str, text: str = "") -> str:
    return tagger.tag(title, text, DAY)[TOPIC].decision


# Our own sentences, in the forms a reporter would use: names inflected, the meeting word in any case.
RUSSIAN_MEETINGS = [
    "Владимир Путин встретился с премьер-министром Индии Нарендрой Моди в Кремле.",
    "Путин и Моди провели переговоры в Нью-Дели.",
    "Глава МИД России Сергей Лавров провёл переговоры с Джайшанкаром в Москве.",
    "Премьер Индии прибыл в Москву на ежегодный российско-индийский саммит, где его встретил Путин.",
    "Во время визита в Индию Путину устроили торжественную встречу.",
]
HINDI_MEETINGS = [
    "प्रधानमंत्री नरेंद्र मोदी ने मॉस्को में रूसी राष्ट्रपति व्लादिमीर पुतिन से मुलाकात की।",
    "भारत और रूस के बीच वार्षिक शिखर सम्मेलन नई दिल्ली में हुआ।",
    "विदेश मंत्री जयशंकर और रूसी विदेश मंत्री लावरोव के बीच द्विपक्षीय वार्ता हुई।",
    "पुतिन दो दिन के दौरे पर भारत पहुंचे, जहां मोदी ने उनका स्वागत किया।",
]
NOT_MEETINGS = [
    "В Москве открылась выставка современного искусства.",  # unrelated
    "Индия закупила у России рекордный объём нефти в феврале.",  # relations, no meeting
    "Путин провёл телефонный разговор с Моди.",  # a phone call
    "Путин встретился с Трампом на Аляске.",  # Putin and a third country
    "Моди провёл переговоры с Си Цзиньпином.",  # Modi and a third country
    "मुंबई में भारी बारिश से यातायात प्रभावित हुआ।",  # unrelated
    "भारत ने रूस से तेल का आयात बढ़ाया।",  # relations, no meeting
    "मोदी ने पुतिन से फोन पर बात की।",  # a phone call
    "ट्रंप और पुतिन की अलास्का में मुलाकात हुई।",  # Putin and a third country
]


@pytest.mark.parametrize("sentence", RUSSIAN_MEETINGS)
def test_a_russian_report_of_the_meeting_is_tagged(tagger: Tagger, sentence: str) -> None:
    assert decision(tagger, sentence) == "mention"
    assert decision(tagger, "", f"Новости дня. {sentence} Подробности позже.") != "none"


@pytest.mark.parametrize("sentence", HINDI_MEETINGS)
def test_a_hindi_report_of_the_meeting_is_tagged(tagger: Tagger, sentence: str) -> None:
    assert decision(tagger, sentence) == "mention"
    assert decision(tagger, "", f"आज की खबर। {sentence} विस्तार से बाद में।") != "none"


@pytest.mark.parametrize("sentence", NOT_MEETINGS)
def test_unrelated_and_near_miss_sentences_are_not_tagged(tagger: Tagger, sentence: str) -> None:
    assert decision(tagger, sentence) != "mention"


def test_evidence_is_the_sentence_cut_at_the_danda(tagger: Tagger) -> None:
    text = "मौसम साफ रहा। मोदी ने क्रेमलिन में पुतिन से मुलाकात की। बाजार बंद रहे।"
    result = tagger.tag("", text, DAY)[TOPIC]
    (item,) = [e for e in result.evidence if not e["context"]]
    assert item["text"] == "मोदी ने क्रेमलिन में पुतिन से मुलाकात की।"
    assert text[item["start"]:item["end"]] == item["text"]
    assert item["language"] == "hi" and set(item["groups"]) >= {"india_leader", "russia_leader", "meeting"}


def test_the_result_records_the_article_and_sentence_language(tagger: Tagger) -> None:
    title = "Путин и Моди провели переговоры"
    text = "Modi and Putin met in Moscow on Monday. Путина встречали в аэропорту."
    result = tagger.tag(title, text, DAY)[TOPIC]
    assert result.as_dict()["language"] == "ru"
    assert {e["language"] for e in result.evidence} == {"ru", "en"}
    assert tagger.tag("", "", DAY)[TOPIC].as_dict()["language"] is None


def test_a_given_language_is_kept(tagger: Tagger) -> None:
    assert tagger.tag("Modi meets Putin", "", DAY, language="en")[TOPIC].language == "en"


def test_every_group_of_the_shipped_topic_has_terms_in_three_languages() -> None:
    (topic,) = load_config(SHIPPED_CONFIG).topics
    for group, by_language in term_languages(topic).items():
        assert set(by_language) == {"en", "ru", "hi"}, group


def test_the_tag_command_prints_the_language(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [{"id": "ru", "title": "Моди прибыл в Москву и встретился с Путиным", "text": ""},
             {"id": "hi", "title": "मोदी ने पुतिन से मुलाकात की", "text": ""},
             {"id": "en", "title": "Weather in Delhi", "text": ""}]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    code, out, _ = cli(capsys, "--config", str(SHIPPED_CONFIG), "tag", "--input", str(path))
    assert code == 0
    rows = {row["id"]: row for row in map(json.loads, out.splitlines())}
    assert {key: row["language"] for key, row in rows.items()} == {"ru": "ru", "hi": "hi", "en": "en"}
    assert rows["ru"]["topics"][TOPIC]["mention"] and rows["hi"]["topics"][TOPIC]["mention"]
    assert rows["ru"]["topics"][TOPIC]["language"] == "ru"


def test_the_pipeline_records_the_detected_language(httpserver: HTTPServer, write_config: Callable[..., Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    base = httpserver.url_for("").rstrip("/")
    title = "Путин и Моди провели переговоры в Кремле"
    text = ("Президент России Владимир Путин встретился с премьер-министром Индии Нарендрой Моди.\n"
            "Стороны обсудили торговлю, энергетику и сотрудничество в космосе.")
    httpserver.expect_request("/feed.xml").respond_with_data(rss(base, [("ru-talks", title, "2026-03-09")]),
                                                             content_type="application/rss+xml")
    httpserver.expect_request("/articles/ru-talks.html").respond_with_data(
        article_page(title, text), content_type="text/html; charset=utf-8")
    config = write_config([{"name": "ru", "url": f"{base}/feed.xml"}])
    assert cli(capsys, "--config", str(config), "poll")[0] == 0
    log = EventLog.open(load_config(config).storage.url, migrate=True)
    try:
        (event,) = log.read(types=["ArticleExtracted"])
        (tagged,) = [e.data for e in log.read(types=["MentionTagged"])]
    finally:
        log.close()
    assert event.data["language"] == "ru"  # the page declares none: detected
    assert tagged["language"] == "ru" and tagged["decision"] == "mention"
    assert {e["language"] for e in tagged["evidence"]} == {"ru"}
    code, out, _ = cli(capsys, "--config", str(config), "explain", event.stream.removeprefix("article:"))
    assert code == 0
    assert "· language ru" in out and "[title 0-" in out  # the evidence's label is printed, not eaten as markup
