"""monitor.language.tfidf computes what scikit-learn's TfidfVectorizer computes for the tagger's settings, so that
the daemon need not import scikit-learn (#19): sklearn is the oracle here, on the shipped reference documents and
on the labelled dev data (English, Russian and Hindi), read from ../shared at test time."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.metrics.pairwise import linear_kernel

from monitor.language.text import fold
from monitor.language.tfidf import Tfidf, english_stop_words
from monitor.tagging.similarity import ReferenceIndex
from tests.builders import REPO

REFERENCES = sorted((REPO / "config" / "reference").glob("*.md"))
# The settings ReferenceIndex.build gives TfidfVectorizer (before #19 it built exactly this one).
OPTIONS = {"stop_words": "english", "sublinear_tf": True, "ngram_range": (1, 2), "preprocessor": fold}
TOLERANCE = 1e-12


def paragraphs(paths: list[Path]) -> list[str]:
    return [para for p in paths for para in re.split(r"\n\s*\n", p.read_text(encoding="utf-8")) if para.strip()]


def dev_items(shared_dir: Path) -> list[dict]:
    """Every labelled dev item, its text as the tagger compares it (``title\\ntext``) and its language (dev.jsonl
    is English; dev2.jsonl says each item's)."""
    items = []
    for name in ("dev.jsonl", "dev2.jsonl"):
        for line in (shared_dir / "data" / "articles" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                items.append({"text": f"{item.get('title') or ''}\n{item.get('text') or ''}",
                              "language": item.get("language") or "en"})
    return items


def by_language(items: list[dict]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for item in items:
        groups.setdefault(item["language"], []).append(item["text"])
    assert {"en", "ru", "hi"} <= set(groups), "the dev data should hold English, Russian and Hindi items"
    return groups


def max_difference(ours: Tfidf, theirs: TfidfVectorizer, texts: list[str]) -> float:
    """The largest difference between the two transforms, a few texts at a time (dense rows are wide)."""
    worst = 0.0
    for start in range(0, len(texts), 25):
        chunk = texts[start:start + 25]
        worst = max(worst, float(np.abs(ours.transform(chunk) - theirs.transform(chunk).toarray()).max()))
    return worst


def test_the_shipped_english_stop_words_are_sklearns() -> None:
    assert english_stop_words() == ENGLISH_STOP_WORDS


def test_the_analyzer_is_sklearns_on_every_dev_text(shared_dir: Path) -> None:
    analyze = TfidfVectorizer(**OPTIONS).build_analyzer()
    ours = Tfidf.fit(["summit"]).build_analyzer()
    for texts in by_language(dev_items(shared_dir)).values():
        for text in texts:
            assert ours(text) == analyze(text)


def test_fitted_on_the_references_vocabulary_idf_and_vectors_are_sklearns(shared_dir: Path) -> None:
    docs = paragraphs(REFERENCES)
    ours, theirs = Tfidf.fit(docs), TfidfVectorizer(**OPTIONS).fit(docs)
    assert ours.vocabulary_ == theirs.vocabulary_
    assert np.abs(ours.idf_ - theirs.idf_).max() <= TOLERANCE
    bodies = [p.read_text(encoding="utf-8") for p in REFERENCES]
    assert max_difference(ours, theirs, bodies + docs) <= TOLERANCE
    for language, texts in by_language(dev_items(shared_dir)).items():
        assert max_difference(ours, theirs, texts) <= TOLERANCE, language


def test_fitted_on_dev_data_in_three_languages_vocabulary_idf_and_vectors_are_sklearns(shared_dir: Path) -> None:
    groups = by_language(dev_items(shared_dir))
    texts = [text for group in groups.values() for text in group]
    ours, theirs = Tfidf.fit(texts), TfidfVectorizer(**OPTIONS).fit(texts)
    assert ours.vocabulary_ == theirs.vocabulary_
    assert any(re.search("[а-я]", term) for term in ours.vocabulary_)  # Cyrillic and Devanagari terms are in it
    assert any(re.search("[\u0900-\u097f]", term) for term in ours.vocabulary_)
    assert np.abs(ours.idf_ - theirs.idf_).max() <= TOLERANCE
    for language, group in groups.items():
        assert max_difference(ours, theirs, group) <= TOLERANCE, language
    # A fixed vocabulary (the references' terms, with the dev data as background), as ReferenceIndex refits.
    fixed = theirs.vocabulary_
    ours, theirs = Tfidf.fit(texts[:50], vocabulary=fixed), TfidfVectorizer(**OPTIONS, vocabulary=fixed).fit(texts[:50])
    assert np.abs(ours.idf_ - theirs.idf_).max() <= TOLERANCE
    assert max_difference(ours, theirs, texts[:100]) <= TOLERANCE


@pytest.mark.parametrize("background", [0, 200])
def test_similarity_per_reference_equals_sklearns_on_dev_data(shared_dir: Path, background: int) -> None:
    items = dev_items(shared_dir)
    extra = [item["text"] for item in items[-background:]] if background else []
    index = ReferenceIndex.build(REFERENCES, extra)
    docs = paragraphs(REFERENCES)
    vectorizer = TfidfVectorizer(**OPTIONS).fit(docs)
    if extra:
        vectorizer = TfidfVectorizer(**OPTIONS, vocabulary=vectorizer.vocabulary_).fit(docs + extra)
    assert index.vectorizer is not None and index.vectorizer.vocabulary_ == vectorizer.vocabulary_
    assert np.abs(index.vectorizer.idf_ - vectorizer.idf_).max() <= TOLERANCE
    references = vectorizer.transform([p.read_text(encoding="utf-8") for p in REFERENCES])
    for language, texts in by_language(items).items():
        expected = linear_kernel(vectorizer.transform(texts), references)
        got = index.scores(texts)
        assert got.shape == expected.shape == (len(texts), len(REFERENCES))
        assert np.abs(got - expected).max() <= TOLERANCE, language
        assert [[sims[name] for name in index.names] for sims in index.similarity(texts)] == \
            [[round(float(v), 4) for v in row] for row in expected]
        if language == "en":
            assert (expected > 0.1).any()  # the English items do resemble the (English) references


def test_documents_of_stop_words_only_are_refused_as_sklearn_refuses_them() -> None:
    docs = ["The and of it.", "a"]
    with pytest.raises(ValueError, match="empty vocabulary") as ours:
        Tfidf.fit(docs)
    with pytest.raises(ValueError, match="empty vocabulary") as theirs:
        TfidfVectorizer(**OPTIONS).fit(docs)
    assert str(ours.value) == str(theirs.value)
