"""Tests for monitor.tagging.rules: rules, the shipped India–Russia summit topic, proximity and the seed articles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Rule, config_from_dict, load_config
from monitor.tagging.rules import Tagger, TopicResult, describe, evaluate
from tests.builders import REPO, SHIPPED_CONFIG

TOPIC = "india-russia-summit"
REFERENCES = {"annual-summit-2025-preparations.md", "modi-putin-sco-tianjin-2025.md"}


def rule(data: Any) -> Any:
    return data if isinstance(data, str) else Rule.model_validate(data)


# --- evaluate / describe ---------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "text"), [
    ("a", "a"),
    ({"all": ["a", "b"]}, "a AND b"),
    ({"any": ["a", "b"]}, "a OR b"),
    ({"not": "a"}, "NOT a"),
    ({"not": {"not": "a"}}, "NOT NOT a"),
    ({"all": ["a", {"any": ["b", "c"]}, {"not": "d"}]}, "a AND (b OR c) AND NOT d"),
    ({"any": ["a", {"all": ["b", "c"]}]}, "a OR (b AND c)"),
    ({"not": {"all": ["a", "b"]}}, "NOT (a AND b)"),
    ({"any": ["x", {"not": {"any": ["a", "b"]}}]}, "x OR NOT (a OR b)"),
])
def test_describe(data: Any, text: str) -> None:
    assert describe(rule(data)) == text


@pytest.mark.parametrize(("data", "present", "holds"), [
    ("a", {"a"}, True),
    ("a", {"b"}, False),
    ({"all": ["a", "b"]}, {"a", "b", "c"}, True),
    ({"all": ["a", "b"]}, {"a"}, False),
    ({"any": ["a", "b"]}, {"b"}, True),
    ({"any": ["a", "b"]}, set(), False),
    ({"not": "a"}, set(), True),
    ({"not": "a"}, {"a"}, False),
    ({"not": {"not": "a"}}, {"a"}, True),
    ({"not": {"all": ["a", "b"]}}, {"a"}, True),
    ({"not": {"all": ["a", "b"]}}, {"a", "b"}, False),
    ({"all": ["a", {"any": ["b", "c"]}, {"not": "d"}]}, {"a", "c"}, True),
    ({"all": ["a", {"any": ["b", "c"]}, {"not": "d"}]}, {"a", "c", "d"}, False),
    ({"all": ["a", {"any": ["b", "c"]}, {"not": "d"}]}, {"a", "d"}, False),
    ({"any": [{"all": ["a", "b"]}, {"all": ["c", {"not": "a"}]}]}, {"c"}, True),
    ({"any": [{"all": ["a", "b"]}, {"all": ["c", {"not": "a"}]}]}, {"a", "c"}, False),
])
def test_evaluate(data: Any, present: set[str], holds: bool) -> None:
    assert evaluate(rule(data), present) is holds


def test_default_rule_needs_every_group() -> None:
    config = config_from_dict({"topics": [{"id": "t", "title": "T", "keywords": {"a": ["x"], "b": ["y"]}}]})
    assert describe(config.topics[0].effective_rule()) == "a AND b"


# --- the shipped topic -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(load_config(SHIPPED_CONFIG))


def summit(tagger: Tagger, title: str, text: str = "", published: dt.date | None = dt.date(2025, 9, 1)) -> TopicResult:
    results = tagger.tag(title, text, published)
    assert set(results) == {TOPIC}
    return results[TOPIC]


def test_shipped_rule(tagger: Tagger) -> None:
    result = summit(tagger, "Nothing to see")
    assert result.rule == (
        "((india_leader AND russia_side AND meeting) OR (russia_leader AND india_side AND meeting)"
        " OR (india_side AND russia_side AND summit) OR (india_leader AND russia_leader AND together))"
        " AND NOT phone_call AND NOT third_party AND NOT third_country AND (NOT multilateral OR bilateral)"
    )


def test_headline_mention(tagger: Tagger) -> None:
    result = summit(tagger, "Modi meets Putin ahead of annual summit")
    assert result.mention is True
    assert result.decision == "mention"
    assert result.sentences == ["Modi meets Putin ahead of annual summit"]
    assert {"Modi", "Putin"} <= set(result.terms)
    assert result.groups["india_side"] == ["Modi"] and result.groups["russia_side"] == ["Putin"]
    assert result.evidence[0]["field"] == "title"
    assert result.score >= 0.5


def test_headline_in_the_text(tagger: Tagger) -> None:
    result = summit(tagger, "", "Modi meets Putin ahead of annual summit")
    assert result.mention is True
    assert result.sentences == ["Modi meets Putin ahead of annual summit"]
    assert result.evidence[0]["field"] == "text"


def test_headline_repeated_as_first_line_counts_once(tagger: Tagger) -> None:
    title = "Modi meets Putin ahead of annual summit"
    result = summit(tagger, title, f"{title}\nThe two leaders met in New Delhi on Friday.")
    assert [e["field"] for e in result.evidence] == ["title"]


NEAR_MISSES = [
    ("Putin and Trump hold summit in Alaska",
     "Russian President Vladimir Putin met US President Donald Trump at a summit in Anchorage, Alaska, on Friday "
     "to discuss the war in Ukraine."),
    ("Modi meets Xi Jinping in Tianjin",
     "Prime Minister Narendra Modi held talks with Chinese President Xi Jinping on the sidelines of the SCO "
     "summit in Tianjin."),
    ("Medvedev reaches the final at Indian Wells",
     "Russian tennis player Daniil Medvedev reached the final at Indian Wells after beating Carlos Alcaraz."),
]


@pytest.mark.parametrize(("title", "text"), NEAR_MISSES, ids=["putin-trump-alaska", "modi-xi", "medvedev"])
def test_near_misses(tagger: Tagger, title: str, text: str) -> None:
    result = summit(tagger, title, text)
    assert result.mention is False
    assert result.decision == "none"
    assert result.evidence == [] and result.sentences == [] and result.terms == []
    assert set(result.similarity) == REFERENCES


def test_phone_call_is_not_a_mention(tagger: Tagger) -> None:
    result = summit(tagger, "", "Modi and Putin spoke by phone about the upcoming summit.")
    assert result.mention is False
    assert result.evidence == []
    assert result.groups["phone_call"]  # found, and it is what rules the sentence out


def test_phone_call_sentence_is_not_evidence(tagger: Tagger) -> None:
    text = ("Modi and Putin spoke by phone on Monday about the summit. "
            "Putin will meet Modi in New Delhi on December 5 for the annual summit.")
    result = summit(tagger, "", text, dt.date(2025, 11, 18))
    assert result.mention is True
    assert result.sentences == ["Putin will meet Modi in New Delhi on December 5 for the annual summit."]
    assert [d["date"] for d in result.dates] == ["2025-12-05"]


def test_evidence_items(tagger: Tagger) -> None:
    text = ("Leaders gathered in Tianjin.\nPrime Minister Narendra Modi held bilateral talks with Russian "
            "President Vladimir Putin on Monday. The weather was fine. "
            "Mr. Lavrov said India and Russia would meet again in December 2025.")
    result = summit(tagger, "Summit diplomacy", text, dt.date(2025, 9, 1))
    assert result.mention is True
    assert set(result.similarity) == REFERENCES
    assert all(isinstance(v, float) for v in result.similarity.values())
    assert len(result.evidence) == 2
    for item in result.evidence:
        assert set(item) >= {"field", "text", "start", "end", "terms", "dates", "closest_reference"}
        assert item["field"] == "text"
        assert text[item["start"]:item["end"]] == item["text"]
        assert item["terms"] == sorted(item["terms"]) and item["terms"]
        assert item["closest_reference"]["document"] in REFERENCES
        assert 0.0 <= item["closest_reference"]["similarity"] <= 1.0
    first, second = result.evidence
    assert first["text"].startswith("Prime Minister Narendra Modi held bilateral talks")
    assert {"Narendra Modi", "Vladimir Putin", "Russian", "talks"} <= set(first["terms"])
    assert [(d["text"], d["date"]) for d in first["dates"]] == [("Monday", "2025-09-01")]
    assert second["text"].startswith("Mr. Lavrov said")
    assert [(d["text"], d["date"], d["end_date"], d["precision"]) for d in second["dates"]] == [
        ("December 2025", "2025-12-01", "2025-12-31", "month"),
    ]
    as_dict = result.as_dict()
    assert as_dict["sentences"] == [first["text"], second["text"]]
    assert as_dict["topic_version"] == result.topic_version


# --- proximity as a number of words ----------------------------------------------------------------


def proximity_tagger(proximity: int | str) -> Tagger:
    return Tagger(config_from_dict({"topics": [{
        "id": "t", "title": "T", "proximity": proximity,
        "keywords": {"india": ["Modi", "India"], "russia": ["Putin", "Russia"], "meeting": ["meet*", "summit*"]},
    }]}))


LONG_SENTENCE = ("Modi said on Monday that the long awaited trade agreement, which officials have negotiated "
                 "for years, will finally be discussed when Putin arrives for the summit.")


def test_proximity_far_apart_terms_do_not_match() -> None:
    result = proximity_tagger(5).tag("", LONG_SENTENCE)["t"]
    assert result.mention is False and result.evidence == []
    assert proximity_tagger("sentence").tag("", LONG_SENTENCE)["t"].mention is True


def test_proximity_near_terms_match() -> None:
    text = f"{LONG_SENTENCE} Later, Modi will meet Putin in Delhi."
    result = proximity_tagger(5).tag("", text)["t"]
    assert result.mention is True
    assert result.sentences == ["Later, Modi will meet Putin in Delhi."]
    assert result.evidence[0]["terms"] == ["Modi", "Putin", "meet*"]
    assert result.evidence[0]["closest_reference"] is None  # no reference documents
    assert result.similarity == {}


@pytest.mark.parametrize(("text", "matches"), [
    ("Modi one two Putin meets.", True),  # five words
    ("Modi one two three Putin meets.", False),  # six
    ("The summit: Russia and India agree.", True),
    ("The summit was about trade and then Russia and India agreed.", False),
])
def test_proximity_window(text: str, matches: bool) -> None:
    assert proximity_tagger(5).tag("", text)["t"].mention is matches


# --- the seed articles -----------------------------------------------------------------------------

SEEDS = {"000_": dt.date(2025, 9, 1), "003_": dt.date(2025, 11, 18)}


@pytest.fixture
def seeds(shared_dir: Path) -> dict[str, tuple[str, dt.date]]:
    files = sorted((shared_dir / "seeds").glob("*.txt"))
    found = {prefix: next((p for p in files if p.name.startswith(prefix)), None) for prefix in SEEDS}
    if not files or None in found.values():
        pytest.skip(f"seed articles not present in {shared_dir / 'seeds'}")
    assert len(files) == 2
    return {prefix: (path.read_text(encoding="utf-8"), SEEDS[prefix]) for prefix, path in found.items()}


def resolved(result: TopicResult) -> set[tuple[str, str]]:
    return {(ref["date"], ref["end_date"]) for item in result.evidence for ref in item["dates"]}


def test_seeds_are_mentions(tagger: Tagger, seeds: dict[str, tuple[str, dt.date]]) -> None:
    for prefix, (text, published) in seeds.items():
        result = summit(tagger, "", text, published)
        assert result.mention is True, prefix
        assert set(result.similarity) == REFERENCES
        for item in result.evidence:
            assert text[item["start"]:item["end"]] == item["text"]


def test_seed_000_sco_bilateral(tagger: Tagger, seeds: dict[str, tuple[str, dt.date]]) -> None:
    text, published = seeds["000_"]
    assert text.startswith(" date 2025-09-01 ")
    result = summit(tagger, "", text, published)
    assert any("bilateral meeting with Russian President Vladimir Putin today" in s for s in result.sentences)
    assert ("2025-09-01", "2025-09-01") in resolved(result)
    assert result.similarity["modi-putin-sco-tianjin-2025.md"] > result.similarity["annual-summit-2025-preparations.md"]
    assert not any("phone" in s for s in result.sentences)


def test_seed_003_summit_preparations(tagger: Tagger, seeds: dict[str, tuple[str, dt.date]]) -> None:
    text, published = seeds["003_"]
    result = summit(tagger, "", text, published)
    dates = resolved(result)
    assert ("2025-12-05", "2025-12-05") in dates
    assert ("2025-11-18", "2025-11-18") in dates
    assert ("2024-07-08", "2024-07-09") in dates  # "The last Summit was held on July 8-9, 2024": context, history
    (last,) = [e for e in result.evidence if "July 8-9, 2024" in e["text"]]
    assert last["context"] is True and last["history"] is True
    assert any("preparations underway for the upcoming Annual India Russia Summit" in s for s in result.sentences)
    assert result.similarity["annual-summit-2025-preparations.md"] > result.similarity["modi-putin-sco-tianjin-2025.md"]


def test_title_evidence_offsets_index_the_title_as_given(tagger: Tagger) -> None:
    title = "   Modi meets Putin ahead of annual summit  "
    (item,) = [e for e in summit(tagger, title).evidence if e["field"] == "title"]
    assert title[item["start"]:item["end"]] == "Modi meets Putin ahead of annual summit"


# --- the pipeline's shortcut: skipping hopeless articles changes no decision -----------------------------


@pytest.mark.parametrize(("title", "text"), [
    ("Monsoon arrives early", "Farmers welcomed the rain. Prices of vegetables fell."),
    ("Modi's visit", "The Prime Minister met officials."),  # one side only
    ("India–Russia summit", "Putin’s talks with Modi in New Delhi ended."),
    ("Putin and Modi speak by phone", "Modi and Putin discussed the summit in a phone call."),  # the NOT group
    ("Lavróv meets Jaishankar", "Indo-Russian talks in Moscow."),  # accents and hyphens, in the screen too
])
def test_skipping_hopeless_articles_changes_no_decision(title: str, text: str) -> None:
    tagger = Tagger(load_config(SHIPPED_CONFIG))
    full = tagger.tag(title, text)[TOPIC]
    quick = tagger.tag(title, text, skip_hopeless=True)[TOPIC]
    assert quick.decision == full.decision
    if full.decision != "none":
        assert quick.as_dict() == full.as_dict()


def test_skipping_hopeless_articles_changes_no_decision_on_the_dev_set(shared_dir: Path) -> None:
    import json

    tagger = Tagger(load_config(SHIPPED_CONFIG))
    skipped = 0
    lines = (shared_dir / "data" / "articles" / "dev.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines:
        item = json.loads(line)
        full = tagger.tag(item.get("title") or "", item.get("text") or "")[TOPIC]
        quick = tagger.tag(item.get("title") or "", item.get("text") or "", skip_hopeless=True)[TOPIC]
        assert quick.decision == full.decision, item["id"]
        if full.decision != "none":
            assert quick.as_dict() == full.as_dict(), item["id"]
        skipped += quick.similarity == {}
    assert skipped > len(lines) / 2  # the shortcut does skip most of them


# --- exclusions, history, field weights, the similarity background ---------------------------------


def small_tagger(**topic: Any) -> Tagger:
    return Tagger(config_from_dict({"topics": [{
        "id": "t", "title": "T",
        "keywords": {"india": ["Modi", "India", "Indian"], "russia": ["Putin", "Russia"], "meeting": ["meet*"]},
        **topic,
    }]}))


def test_an_exclusion_masks_its_words_for_every_group() -> None:
    text = "Putin's ships meet in the Indian Ocean. Putin will meet the Indian delegation."
    plain = small_tagger().tag("", text)["t"]
    masked = small_tagger(exclusions=["Indian Ocean"]).tag("", text)["t"]
    assert plain.sentences == ["Putin's ships meet in the Indian Ocean.", "Putin will meet the Indian delegation."]
    assert masked.sentences == ["Putin will meet the Indian delegation."]
    gap = small_tagger(exclusions=["meet* ... demand*"]).tag("", "Putin is meeting India's energy demands.")["t"]
    assert gap.mention is False and gap.evidence == []


def test_a_sentence_about_history_is_shown_but_does_not_count() -> None:
    text = "Modi's last visit to meet Putin in Russia was in 2018."
    day = dt.date(2024, 7, 1)
    result = small_tagger().tag("", text, day)["t"]
    assert [e["history"] for e in result.evidence] == [True]
    assert result.rule_score == 0.3 and result.mention is False  # scattered, not a current meeting
    assert small_tagger(history_days=0).tag("", text, day)["t"].rule_score == 0.7
    assert small_tagger().tag("", text, dt.date(2018, 11, 1))["t"].evidence[0]["history"] is False
    assert small_tagger().tag("", text, None)["t"].evidence[0]["history"] is False  # no date: nothing is past


def test_a_sentence_with_a_recent_date_among_old_ones_is_current() -> None:
    text = "Modi will meet Putin in Russia on 8 July, as he did in 2018."
    result = small_tagger().tag("", text, dt.date(2024, 7, 1))["t"]
    assert result.evidence[0]["history"] is False and result.mention is True


@pytest.mark.parametrize(("weights", "title", "text", "rule_score"), [
    ({}, "Modi meets Putin", "", 1.0),
    ({}, "", "Modi meets Putin. Putin meets Modi. Modi and Putin meet.", 0.9),
    ({"title": 0.6}, "Modi meets Putin", "", 0.6),
    ({"title": 0.6}, "Modi meets Putin", "Modi meets Putin.", 0.7),  # the better of the two, not their sum
    ({"text": 0.5, "further_text": 0.2}, "", "Modi meets Putin. Putin meets Modi.", 0.7),
    ({"scattered": 0.2}, "", "Modi spoke. Putin spoke. They will meet.", 0.2),
])
def test_field_weights(weights: dict[str, float], title: str, text: str, rule_score: float) -> None:
    result = small_tagger(field_weights=weights).tag(title, text)["t"]
    assert result.rule_score == pytest.approx(rule_score)


def test_the_background_discounts_common_words_without_growing_the_vocabulary(tmp_path: Path) -> None:
    (tmp_path / "ref.md").write_text("The annual summit in New Delhi.\n\nLeaders discuss oil and defence.",
                                     encoding="utf-8")
    topic = {"id": "t", "title": "T", "keywords": {"a": ["summit"]}, "reference_documents": ["ref.md"]}
    config = config_from_dict({"topics": [topic]}, source=tmp_path / "monitor.toml")
    article = ("Oil prices rose.", "Oil and more oil: the oil market in New Delhi.")
    alone = Tagger(config).topics[0]
    background = [f"Oil report {i}: oil, oil and oil." for i in range(50)]
    learnt = Tagger(config, background=background).topics[0]
    assert learnt.references.background == 50 and alone.references.background == 0
    assert learnt.references.vectorizer.vocabulary_ == alone.references.vectorizer.vocabulary_
    before = alone.tag(*article, None).similarity["ref.md"]
    after = learnt.tag(*article, None).similarity["ref.md"]
    assert after < before  # "oil" is everywhere in the background: it says less about the reference


def test_similarity_background_zero_uses_the_references_alone(tmp_path: Path) -> None:
    (tmp_path / "ref.md").write_text("The annual summit.\n\nOil and defence.", encoding="utf-8")
    topic = {"id": "t", "title": "T", "keywords": {"a": ["summit"]}, "reference_documents": ["ref.md"],
             "similarity_background": 0}
    config = config_from_dict({"topics": [topic]}, source=tmp_path / "monitor.toml")
    assert Tagger(config, background=["oil"] * 10).topics[0].references.background == 0


@pytest.mark.parametrize(("title", "mention"), [
    ("Putin, Indian PM travel in same car from airport", True),
    ("Modi and Putin meet Xi Jinping for trilateral talks", False),
    ("Modi meets Zelenskyy after Putin visit to Kyiv region", False),
    ("Putin tells Modi by phone conversation about Ukraine", False),
])
def test_shipped_topic_leaders_together_third_parties_and_calls(tagger: Tagger, title: str, mention: bool) -> None:
    assert summit(tagger, title).mention is mention


def test_similarity_equals_sklearns_linear_kernel_over_its_transform(tagger: Tagger, shared_dir: Path) -> None:
    import re

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import linear_kernel

    from monitor.language.text import fold

    references = tagger.topics[0].references
    seed = next((shared_dir / "seeds").glob("003_*.txt")).read_text(encoding="utf-8")
    texts = [seed, "Modi meets Putin.", "Nothing in common here: weather and football.", "", "Ünïcödé Lavróv summit"]
    # scikit-learn's own vectorizer with the settings ReferenceIndex reproduces (it imports no sklearn, #19).
    bodies = [(REPO / "config" / "reference" / name).read_text(encoding="utf-8") for name in references.names]
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True, ngram_range=(1, 2), preprocessor=fold).fit(
        [para for body in bodies for para in re.split(r"\n\s*\n", body) if para.strip()])
    expected = linear_kernel(vectorizer.transform(texts), vectorizer.transform(bodies))
    got = references.similarity(texts)
    for row, sims in zip(expected, got, strict=True):
        assert [sims[name] for name in references.names] == pytest.approx([round(float(v), 4) for v in row], abs=1e-4)
    assert max(got[0].values()) > 0.2 and got[2] == dict.fromkeys(references.names, 0.0)


def test_lines_without_a_term_are_left_unsplit_and_the_rest_keep_their_offsets(tagger: Tagger) -> None:
    from monitor.language.text import fold

    topic = tagger.topics[0]
    text = ("Modi meets Putin\nWeather: rain. More rain.\n\n  The Indian Prime Minister met Putin. "
            "They talked about oil.\nFootball results.")
    every = topic.units("Modi meets Putin", text)
    screened = topic.units("Modi meets Putin", text, fold(text))
    assert [span.text for _, span in every] == [
        "Modi meets Putin", "Weather: rain.", "More rain.", "The Indian Prime Minister met Putin.",
        "They talked about oil.", "Football results."]  # the repeated headline counts once
    assert [span.text for _, span in screened] == [
        "Modi meets Putin", "The Indian Prime Minister met Putin.", "They talked about oil."]
    for field_name, span in screened[1:]:
        assert field_name == "text" and text[span.start:span.end] == span.text


def test_context_sentences_show_only_in_a_matching_article_and_do_not_count() -> None:
    context = {"all": ["meeting", {"any": ["india", "russia"]}]}
    tagger = small_tagger(context_rule=context)
    text = "Modi will meet Putin. The meeting in Russia is the 23rd."
    result = tagger.tag("", text, None)["t"]
    assert [(e["text"], e["context"]) for e in result.evidence] == [
        ("Modi will meet Putin.", False), ("The meeting in Russia is the 23rd.", True)]
    assert result.rule_score == 0.7  # the context sentence adds nothing
    alone = tagger.tag("", "The meeting in Russia is the 23rd.", None)["t"]
    assert alone.evidence == [] and alone.rule_score == 0.0
