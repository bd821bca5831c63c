"""Russian and Hindi in monitor.language: words in Devanagari, sentences at the danda and past Russian
abbreviations, inflected keywords (monitor.language.stem) and language detection (monitor.language.detect)."""

from __future__ import annotations

import pytest

from monitor.language.detect import Detector, detect, script_of
from monitor.language.stem import keys, script_language, stem
from monitor.language.text import Term, TermIndex, sentences, tokens


def norms(text: str) -> list[str]:
    return [t.norm for t in tokens(text)]


def found(labels: list[str], text: str) -> list[str]:
    """The labels of the terms that match in ``text``, in order."""
    index = TermIndex([t for label in labels if (t := Term.compile("g", label)) is not None])
    return [hit.term.label for hit in index.find(tokens(text))]


def split(text: str) -> list[str]:
    spans = sentences(text)
    for span in spans:
        assert text[span.start:span.end] == span.text
    return [span.text for span in spans]


# --- words -----------------------------------------------------------------------------------------------


def test_devanagari_words_keep_their_vowel_signs() -> None:
    assert norms("प्रधानमंत्री मोदी ने पुतिन से बात की।") == ["प्रधानमंत्री", "मोदी", "ने", "पुतिन", "से", "बात", "की"]


def test_a_nukta_does_not_make_another_word() -> None:
    assert norms("फ़ोन") == norms("फोन") == ["फोन"]  # the letter with a dot below, and the plain one
    assert norms("\u095eोन") == ["फोन"]  # the precomposed letter


def test_candrabindu_and_anusvara_are_the_same_word() -> None:
    assert norms("पहुँचे") == norms("पहुंचे")


def test_cyrillic_words_fold_case() -> None:
    assert norms("ПУТИН и Моди") == ["путин", "и", "моди"]
    assert norms("главой Ёлкин") == ["главой", "елкин"]  # й stays a letter; ё is е


# --- sentences -------------------------------------------------------------------------------------------


def test_hindi_splits_at_the_danda_and_double_danda() -> None:
    text = "दोनों नेता कल मिले। आज उन्होंने समझौते किए॥ अगली बैठक अगले वर्ष होगी।"
    assert split(text) == ["दोनों नेता कल मिले।", "आज उन्होंने समझौते किए॥", "अगली बैठक अगले वर्ष होगी।"]


def test_the_danda_splits_without_a_space_and_keeps_a_closing_quote() -> None:
    assert split("बैठक सफल रही।अब आगे क्या?") == ["बैठक सफल रही।", "अब आगे क्या?"]
    assert split("उन्होंने कहा, 'हम तैयार हैं।' फिर वे चले गए।") == ["उन्होंने कहा, 'हम तैयार हैं।'", "फिर वे चले गए।"]


def test_hindi_question_marks_split_before_devanagari() -> None:
    assert split("क्या वे मिलेंगे? शायद अगले महीने।") == ["क्या वे मिलेंगे?", "शायद अगले महीने।"]


def test_hindi_initials_and_titles_do_not_end_a_sentence() -> None:
    assert split("विदेश मंत्री एस. जयशंकर कल मॉस्को जाएंगे. वहां बैठक होगी।") == [
        "विदेश मंत्री एस. जयशंकर कल मॉस्को जाएंगे.", "वहां बैठक होगी।"]
    assert split("डॉ. एस. जयशंकर ने कहा।") == ["डॉ. एस. जयशंकर ने कहा।"]


def test_russian_sentences_split_before_a_capital() -> None:
    assert split("Переговоры закончились. Стороны подписали документы! Что дальше? Встреча в мае.") == [
        "Переговоры закончились.", "Стороны подписали документы!", "Что дальше?", "Встреча в мае.",
    ]


@pytest.mark.parametrize("text", [
    "Президент В. В. Путин принял гостей в Кремле.",
    "Президент В.В. Путин принял гостей в Кремле.",
    "Визит пройдёт в 2027 г. В Дели уже готовятся.",
    "Речь шла о крупных проектах, т.е. Об энергетике и оружии.",
    "Гости посетили музей им. Пушкина и ул. Тверскую.",
    "Сделка на 5 млрд. Рублей была подписана.",
])
def test_russian_abbreviations_and_initials_do_not_end_a_sentence(text: str) -> None:
    assert split(text) == [text]


def test_russian_quotes_stay_with_their_sentence() -> None:
    text = "Министр сказал: «Мы довольны итогами». «Следующий раунд будет в Москве», — добавил он. Всё."
    assert split(text) == ["Министр сказал: «Мы довольны итогами».",
                           "«Следующий раунд будет в Москве», — добавил он.", "Всё."]


# --- inflection ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("label", "forms"), [
    ("Путин", ["Путин", "Путина", "Путину", "Путиным", "Путине"]),
    ("Лавров", ["Лавров", "Лаврова", "Лаврову", "Лавровым"]),
    ("Джайшанкар", ["Джайшанкар", "Джайшанкара", "Джайшанкаром"]),
    ("саммит", ["саммит", "саммита", "саммите", "саммиты", "саммитов"]),
    ("переговоры", ["переговоры", "переговоров", "переговорах"]),
    ("встреча", ["встреча", "встречи", "встречу", "встречей"]),
    ("встретиться", ["встретился", "встретились", "встретятся"]),
    ("визит", ["визит", "визита", "визите", "визитом"]),
    ("Москва", ["Москва", "Москвы", "Москве", "Москву"]),
    ("Россия", ["Россия", "России", "Россией"]),
])
def test_russian_terms_match_their_inflected_forms(label: str, forms: list[str]) -> None:
    for form in forms:
        assert found([label], f"Вчера {form} упомянули.") == [label], form


def test_a_russian_phrase_matches_inflected() -> None:
    assert found(["глава МИД России"], "Встреча с главой МИД России прошла в Дели.") == ["глава МИД России"]
    assert found(["Владимир Путин"], "Владимира Путина встречали в аэропорту.") == ["Владимир Путин"]


def test_short_stems_match_only_as_written() -> None:
    # Моди does not inflect; its stem would be мод, as мода ("fashion"). визит's would be виз, as визы.
    assert keys("моди") == ("моди",)
    assert found(["Моди"], "Моди прибыл. Мода меняется.") == ["Моди"]
    assert found(["визит"], "Визы выдают быстро.") == []


@pytest.mark.parametrize(("label", "text"), [
    ("मोदी", "प्रधानमंत्री मोदी ने कहा"),
    ("पुतिन", "राष्ट्रपति पुतिन से मुलाकात"),
    ("रूस", "भारत और रूस के बीच"),
    ("भारत", "भारत और रूस के बीच"),
    ("शिखर सम्मेलन", "दोनों देशों के शिखर सम्मेलनों में"),
    ("बैठक", "कई बैठकों के बाद"),
    ("मुलाकात", "नेताओं की मुलाकातों का दौर"),
    ("वार्ता", "लंबी वार्ताओं के बाद"),
])
def test_hindi_terms_match_with_postpositions_and_plural_forms(label: str, text: str) -> None:
    assert found([label], text) == [label]


def test_stemming_is_by_script() -> None:
    assert stem("meeting") is None  # English matches as written, as before
    assert script_language("путин") == "ru" and script_language("मोदी") == "hi" and script_language("modi") == "en"


# --- language detection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "language"), [
    ("Modi met Putin.", "en"),
    ("Моди прибыл.", "ru"),
    ("Путину", "ru"),
    ("मोदी पहुंचे।", "hi"),
    ("Talks began at noon in the capital.", "en"),
    ("Лавров: «Мы готовы»", "ru"),
])
def test_detection_on_short_sentences(text: str, language: str) -> None:
    assert detect(text) == language


def test_text_without_letters_has_no_language() -> None:
    assert detect("2025 — 12:30") is None
    assert script_of("") is None


def test_the_model_decides_between_languages_that_share_a_script() -> None:
    detector = Detector(["en", "de"])
    assert detector.detect("The two leaders held talks about trade and energy in the capital.") == "en"
    assert detector.detect("Die beiden Staatschefs sprachen in der Hauptstadt über Handel und Energie.") == "de"


def test_an_article_is_judged_by_its_title_and_first_characters() -> None:
    assert Detector().article("Путин и Моди провели переговоры", "Стороны обсудили торговлю. " * 500) == "ru"
