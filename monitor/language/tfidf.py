"""TF-IDF over words and word pairs, the numbers scikit-learn's ``TfidfVectorizer`` gives, without scikit-learn.

The daemon tags every new article against the references' TF-IDF vectors. Importing
``sklearn.feature_extraction.text`` (scipy, scipy.sparse, joblib, threadpoolctl with it) took ~95 MB and ~2.5 s
of the daemon's start-up, more than half its memory (#19), to compute a few dot products. ``Tfidf`` computes
what ``TfidfVectorizer(stop_words="english", sublinear_tf=True, ngram_range=(1, 2), preprocessor=fold)`` does,
and nothing else (its other settings at their defaults):

- **analyzer**: ``preprocessor(text)`` (our ``fold``: sklearn's ``lowercase`` and ``strip_accents`` are not
  applied when a preprocessor is given), tokens by sklearn's ``token_pattern`` ``(?u)\\b\\w\\w+\\b``, the stop
  words removed, then the words and every pair of consecutive remaining words joined by a space;
- **vocabulary**: every term of the fitted documents in alphabetical order (``min_df=1``, ``max_df=1.0``:
  none dropped), or the one given (then the documents only count document frequencies);
- **idf**: ``ln((1 + n) / (1 + df)) + 1`` (``smooth_idf``), as float64 with sklearn's operations in its order;
- **a document's vector**: ``1 + ln(count)`` (``sublinear_tf``) times the idf, over the row's terms in column
  order, divided by its Euclidean norm (``norm="l2"``; the squares summed one by one as sklearn's
  ``inplace_csr_row_normalize_l2`` does).

``tests/language/test_tfidf.py`` holds the vocabulary, the idf and the vectors equal to sklearn's (to 1e-12) on
the shipped references and the labelled dev data, English, Russian and Hindi; sklearn stays a test dependency
as that oracle. ``english_stop_words()`` is sklearn's English list, shipped as data (``data/``, see its header).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from importlib import resources

import numpy as np

from monitor.language.text import fold

# scikit-learn's default token_pattern: words of two or more word characters.
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")


@functools.cache
def english_stop_words() -> frozenset[str]:
    """scikit-learn's ``ENGLISH_STOP_WORDS`` (the Glasgow IR group's list), read from the file shipped here."""
    text = resources.files("monitor.language").joinpath("data", "english_stop_words.txt").read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def analyzer(preprocessor: Callable[[str], str] = fold,
             stop_words: frozenset[str] | None = None) -> Callable[[str], list[str]]:
    """sklearn's word analyzer with ``ngram_range=(1, 2)``: the words, then the pairs of consecutive words, both
    after the stop words are removed (so a pair can span one)."""
    return Analyzer(preprocessor, english_stop_words() if stop_words is None else stop_words)


class Analyzer:
    """``analyzer``'s function: an object rather than a closure, so that a fitted Tfidf (and a Tagger holding one)
    pickles, to be sent to a parse worker that tags there (monitor.ingest.parse_pool). ``preprocessor`` must be a
    module-level function for that."""

    __slots__ = ("preprocessor", "stop")

    def __init__(self, preprocessor: Callable[[str], str], stop: frozenset[str]) -> None:
        self.preprocessor, self.stop = preprocessor, stop

    def __call__(self, text: str) -> list[str]:
        stop = self.stop
        words = [w for w in TOKEN_PATTERN.findall(self.preprocessor(text)) if w not in stop]
        return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]

    def __getstate__(self) -> tuple[Callable[[str], str], frozenset[str]]:
        return self.preprocessor, self.stop

    def __setstate__(self, state: tuple[Callable[[str], str], frozenset[str]]) -> None:
        self.preprocessor, self.stop = state


class Tfidf:
    """A fitted TF-IDF: ``vocabulary_`` (term -> column) and ``idf_`` as sklearn names them."""

    def __init__(self, vocabulary: Mapping[str, int], idf: np.ndarray, analyze: Callable[[str], list[str]]) -> None:
        self.vocabulary_ = dict(vocabulary)
        self.idf_ = idf
        self._analyze = analyze

    @classmethod
    def fit(cls, documents: Iterable[str], *, vocabulary: Mapping[str, int] | None = None,
            preprocessor: Callable[[str], str] = fold) -> Tfidf:
        """Learn the vocabulary (unless given) and the document frequencies; ValueError, as sklearn raises, when
        the documents leave no term."""
        analyze = analyzer(preprocessor)
        seen: list[set[str]] = [set(analyze(doc)) for doc in documents]
        if vocabulary is None:
            vocabulary = {term: k for k, term in enumerate(sorted(set().union(*seen)))}
            if not vocabulary:
                raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        df = np.zeros(len(vocabulary), dtype=np.float64)
        for terms in seen:
            columns = [vocabulary[t] for t in terms if t in vocabulary]
            df[columns] += 1.0
        # TfidfTransformer.fit's steps in its order (smooth_idf), so that the floats are the same.
        df += 1.0
        idf = np.full_like(df, fill_value=len(seen) + 1, dtype=np.float64)
        idf /= df
        np.log(idf, out=idf)
        idf += 1.0
        return cls(vocabulary, idf, analyze)

    def build_analyzer(self) -> Callable[[str], list[str]]:
        return self._analyze

    def counts(self, text: str) -> dict[int, int]:
        """How often each vocabulary column occurs in ``text``, in the order the terms first occur."""
        counts: dict[int, int] = {}
        vocabulary = self.vocabulary_
        for term in self._analyze(text):
            column = vocabulary.get(term)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        return counts

    def transform(self, texts: Iterable[str]) -> np.ndarray:
        """The documents' unit TF-IDF vectors as a dense array (documents x vocabulary): the values of sklearn's
        ``transform(texts).toarray()``. For a handful of documents (the references); articles go through
        ``counts`` alone, over the few columns they have."""
        rows = [self.counts(text) for text in texts]
        matrix = np.zeros((len(rows), len(self.vocabulary_)), dtype=np.float64)
        for i, counts in enumerate(rows):
            if not counts:
                continue
            columns = np.array(sorted(counts), dtype=np.intp)
            data = np.array([counts[c] for c in columns.tolist()], dtype=np.float64)
            # TfidfTransformer.transform's steps, in its order and with numpy's log, so that the floats are the same.
            np.log(data, out=data)
            data += 1.0
            data *= self.idf_[columns]
            total = 0.0
            for weight in data.tolist():  # one by one, as sklearn's inplace_csr_row_normalize_l2 sums
                total += weight * weight
            data /= math.sqrt(total)
            matrix[i, columns] = data
        return matrix
