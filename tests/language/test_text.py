"""Tests for monitor.language.text: folding, tokens with offsets, sentences and keyword terms."""

from __future__ import annotations

import pytest

from monitor.language.text import Term, TermIndex, fold, sentences, tokens, without_excluded


def norms(text: str) -> list[str]:
    return [t.norm for t in tokens(text)]


def labels(terms: list[Term], text: str) -> list[str]:
    return [hit.term.label for hit in TermIndex(terms).find(tokens(text))]


# --- fold ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "folded"), [
    ("Lavróv", "lavrov"),
    ("LAVROV", "lavrov"),
    ("Zürich Ñandú Éric", "zurich nandu eric"),
    ("İstanbul", "istanbul"),
    ("India–Russia", "india–russia"),
])
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize("text", ["Lavróv", "Modi’s visit to Moskvá", "İstanbul", "Straße", "ﬁnal", "Ærø — 日本", ""])
def test_fold_keeps_one_character_per_character(text: str) -> None:
    assert len(fold(text)) == len(text)


# --- tokens ----------------------------------------------------------------------------------------


def test_dashes_and_spaces_separate_the_same_words() -> None:
    expected = ["india", "russia"]
    for text in ("India–Russia", "India-Russia", "India Russia", "India—Russia", "India/Russia", "india - RUSSIA"):
        assert norms(text) == expected, text


@pytest.mark.parametrize("text", ["Modi's", "Modi’s", "MODI'S", "Modi"])
def test_possessives(text: str) -> None:
    assert norms(text) == ["modi"]


def test_compounds_and_titles() -> None:
    assert norms("Indo-Russian") == ["indo", "russian"]
    assert norms("PM Modi’s talks") == ["pm", "modi", "talks"]
    assert norms("Lavróv's visit") == ["lavrov", "visit"]


@pytest.mark.parametrize("text", [
    "PM Modi’s talks with Lavróv in New Delhi — the India–Russia summit.",
    "O'Brien met rock’n’roll fans",
    "“Modi’s” visit, (Putin's) reply!",
])
def test_token_offsets_point_into_the_text(text: str) -> None:
    toks = tokens(text)
    assert toks
    for tok in toks:
        assert fold(text[tok.start:tok.end]) == tok.norm
    assert [t.start for t in toks] == sorted(t.start for t in toks)


def test_token_offsets_after_an_apostrophe() -> None:
    text = "O'Brien met Modi"
    assert [(t.norm, t.start, t.end) for t in tokens(text)] == [
        ("o", 0, 1), ("brien", 2, 7), ("met", 8, 11), ("modi", 12, 16),
    ]


# --- sentences -------------------------------------------------------------------------------------


def check_offsets(text: str) -> list[str]:
    spans = sentences(text)
    for span in spans:
        assert text[span.start:span.end] == span.text
    return [span.text for span in spans]


def test_sentences_split_on_punctuation_and_newlines() -> None:
    text = "Modi met Putin. Did they sign? Yes! 2025 was busy.\nA new line\n\n  Indented paragraph. Last"
    assert check_offsets(text) == [
        "Modi met Putin.", "Did they sign?", "Yes!", "2025 was busy.", "A new line", "Indented paragraph.", "Last",
    ]


def test_sentences_do_not_split_after_abbreviations_and_initials() -> None:
    text = ("Mr. Putin met U.S. officials in Moscow. External Affairs Minister S. Jaishankar arrived on Monday. "
            "Dr. Rao said so.")
    assert check_offsets(text) == [
        "Mr. Putin met U.S. officials in Moscow.",
        "External Affairs Minister S. Jaishankar arrived on Monday.",
        "Dr. Rao said so.",
    ]


def test_sentences_keep_closing_quotes_and_brackets() -> None:
    text = 'He said: "We will meet." Then Modi left. (It was late.) “Next year.” Done.'
    assert check_offsets(text) == [
        'He said: "We will meet."', "Then Modi left.", "(It was late.)", "“Next year.”", "Done.",
    ]


def test_sentences_need_a_capital_after_the_stop() -> None:
    assert check_offsets("Version 2.5 of the plan. the rest is lower case. Fine.") == [
        "Version 2.5 of the plan. the rest is lower case.", "Fine.",
    ]


def test_sentences_of_blank_text() -> None:
    assert sentences("") == []
    assert sentences("  \n\n ") == []


# --- terms -----------------------------------------------------------------------------------------


def test_term_compile() -> None:
    term = Term.compile("meeting", "meet*")
    assert term is not None and term.words == ("meet",) and term.prefix == (True,)
    term = Term.compile("india_side", "Ministry of External Affairs")
    assert term is not None and term.words == ("ministry", "of", "external", "affairs")
    assert term.prefix == (False, False, False, False)
    term = Term.compile("meeting", "tête-à-tête")
    assert term is not None and term.words == ("tete", "a", "tete")
    assert Term.compile("x", "   ") is None


def test_multiword_terms() -> None:
    terms = [Term.compile("india", "New Delhi"), Term.compile("india", "Narendra Modi"), Term.compile("india", "Modi")]
    assert labels(terms, "In NEW DELHI, Prime Minister Narendra Modi spoke.") == ["New Delhi", "Narendra Modi", "Modi"]
    assert labels(terms, "New York and Delhi") == []
    assert labels(terms, "Narendra met Modi") == ["Modi"]


def test_term_hit_offsets() -> None:
    text = "In New Delhi, PM Narendra Modi’s team met."
    hits = TermIndex([Term.compile("india", "Narendra Modi")]).find(tokens(text))
    assert [text[h.start:h.end] for h in hits] == ["Narendra Modi"]


def test_prefix_terms() -> None:
    terms = [Term.compile("meeting", "meet*"), Term.compile("meeting", "summit*")]
    assert labels(terms, "They meet, meets, MEETING and meetings at summits") == ["meet*"] * 4 + ["summit*"]
    assert labels(terms, "They met at a summertime mee") == []


def test_prefix_in_a_phrase() -> None:
    terms = [Term.compile("meeting", "hold* talks")]
    assert labels(terms, "They held talks") == []
    assert labels(terms, "They will hold talks, holding talks") == ["hold* talks", "hold* talks"]


def test_terms_ignore_case_and_diacritics() -> None:
    terms = [Term.compile("russia", "Lavrov"), Term.compile("russia", "Sergéy Lavrov"),
             Term.compile("meeting", "tete a tete")]
    assert labels(terms, "SERGEY LAVRÓV") == ["Sergéy Lavrov", "Lavrov"]
    assert labels(terms, "a tête-à-tête with lavrov’s team") == ["tete a tete", "Lavrov"]
    assert labels(terms, "Lavrovsky") == []


def test_dashed_keyword_matches_every_spelling() -> None:
    terms = [Term.compile("both", "India-Russia")]
    for text in ("India–Russia ties", "India Russia ties", "india-russia ties"):
        assert labels(terms, text) == ["India-Russia"], text


def test_gap_matches_up_to_three_words() -> None:
    terms = [Term.compile("x", "meeting ... demand*")]
    assert terms[0] is not None and terms[0].words == ("meeting", "...", "demand")
    assert labels(terms, "meeting demand") == ["meeting ... demand*"]
    assert labels(terms, "meeting India's growing energy demands") == ["meeting ... demand*"]  # three words
    assert labels(terms, "meeting the country's fast growing energy demands") == []  # five
    assert labels(terms, "a meeting on Monday") == []


def test_gap_hit_spans_the_whole_phrase() -> None:
    text = "Moscow is meeting India’s energy needs."
    hits = TermIndex([Term.compile("x", "meeting … need*")]).find(tokens(text))  # the ellipsis character too
    assert [text[h.start:h.end] for h in hits] == ["meeting India’s energy needs"]


def test_leading_trailing_and_doubled_gaps_are_ignored() -> None:
    term = Term.compile("x", "... India ... ... Russia ...")
    assert term is not None and term.words == ("india", "...", "russia")
    assert Term.compile("x", "...") is None


def test_excluded_words_count_for_no_group() -> None:
    toks = tokens("A tanker in the Indian Ocean; Indian officials met.")
    hits = TermIndex([Term.compile("india", "Indian")]).find(toks)
    excluded = TermIndex([Term.compile("exclusion", "Indian Ocean")]).find(toks)
    kept = without_excluded(hits, excluded)
    assert [(h.start, h.term.label) for h in hits] == [(16, "Indian"), (30, "Indian")]
    assert [(h.start, h.term.label) for h in kept] == [(30, "Indian")]
    assert without_excluded(hits, []) == hits
