"""Similarity to a topic's reference documents: TF-IDF cosine, word weights learnt from the references'
paragraphs and a background of recent articles (monitor.tagging.rules explains how it enters the score)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from monitor.language.text import fold
from monitor.language.tfidf import Tfidf


@dataclass
class ReferenceIndex:
    """TF-IDF vectors of a topic's reference documents, fitted on their paragraphs: ``vectorizer`` is a
    ``monitor.language.tfidf.Tfidf`` (scikit-learn's ``TfidfVectorizer`` arithmetic without importing it: the
    daemon would pay ~95 MB and seconds at start-up for it), ``matrix`` the references' unit vectors, dense."""

    names: list[str]
    vectorizer: Tfidf | None
    matrix: Any

    background: int = 0  # how many articles the word weights were learnt from, beside the references

    @classmethod
    def build(cls, paths: Iterable[Path], background: list[str] | None = None) -> ReferenceIndex:
        docs = [(p.name, p.read_text(encoding="utf-8")) for p in paths]
        if not docs:
            return cls([], None, None)
        paragraphs = [para for _, body in docs for para in re.split(r"\n\s*\n", body) if para.strip()]
        # Our fold (lower case, no accents, by a translate table) is sklearn's lowercase + strip_accents at a
        # fraction of the cost, which is most of tagging's time on a long article. The settings are
        # TfidfVectorizer(stop_words="english", sublinear_tf=True, ngram_range=(1, 2), preprocessor=fold)'s.
        vectorizer = Tfidf.fit(paragraphs, preprocessor=fold)
        extra = [text for text in background or [] if text.strip()]
        if extra:
            # The vocabulary stays the references' (the background's own words would add nothing to their
            # vectors, and only cost memory); the background makes words every article uses weigh less.
            vectorizer = Tfidf.fit(paragraphs + extra, vocabulary=vectorizer.vocabulary_, preprocessor=fold)
        return cls([name for name, _ in docs], vectorizer, vectorizer.transform([body for _, body in docs]),
                   len(background or []))

    def __post_init__(self) -> None:
        if self.vectorizer is not None:
            self._analyze = self.vectorizer.build_analyzer()
            self._vocabulary: dict[str, int] = self.vectorizer.vocabulary_
            self._idf = self.vectorizer.idf_
            self._references = np.asarray(self.matrix)  # a few documents x their vocabulary

    def similarity(self, texts: list[str]) -> list[dict[str, float]]:
        """Cosine similarity of each text to each reference, rounded to 4 places: the numbers of sklearn's
        ``linear_kernel(TfidfVectorizer(...).transform(texts), matrix)`` (tests hold them equal), computed over
        the columns each text has."""
        if self.vectorizer is None:
            return [{} for _ in texts]
        return [self._similarity(text) for text in texts]

    def scores(self, texts: list[str]) -> np.ndarray:
        """The unrounded cosines, texts x references (what ``similarity`` rounds)."""
        if self.vectorizer is None:
            return np.zeros((len(texts), 0))
        return np.array([self._scores(text) for text in texts]).reshape(len(texts), len(self.names))

    def _similarity(self, text: str) -> dict[str, float]:
        return {name: round(float(score), 4) for name, score in zip(self.names, self._scores(text), strict=True)}

    def _scores(self, text: str) -> np.ndarray:
        counts: dict[int, int] = {}
        vocabulary = self._vocabulary
        for term in self._analyze(text):
            column = vocabulary.get(term)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        if not counts:
            return np.zeros(len(self.names))
        columns = np.fromiter(counts, dtype=np.intp, count=len(counts))
        weights = (np.log(np.fromiter(counts.values(), dtype=float, count=len(counts))) + 1.0) * self._idf[columns]
        weights /= np.sqrt(weights @ weights)
        return self._references[:, columns] @ weights
