"""Group a digest's items into stories: one event covered by several outlets (or reposted) is one story.

Two signals find that two items tell the same story; either one is enough:

- **near copies** (a wire story reposted with another header or footer): MinHash over 4-word shingles of
  the normalised text, candidates from LSH, kept when the estimated Jaccard similarity is at least
  ``COPY_JACCARD``;
- **rewrites** (the same event told in other words): outlets rewrite sentences, so they share few exact word
  sequences, but they keep the event's content words and above all its names, places and figures. Content
  words are the title (counted twice) and text without stopwords, news boilerplate words, the dateline and
  the topic's own terms (``StoryDoc.terms``), crudely stemmed; *specific* words are those always capitalised
  in the item (names) and numbers. A pair is a rewrite when the TF-IDF cosine of the content words is at
  least ``REWRITE_COSINE``, the IDF²-weighted Dice overlap of the specific words at least ``SPECIFIC_OVERLAP``,
  and they share at least ``MIN_SHARED_SPECIFIC`` specific and ``MIN_SHARED_CONTENT`` content words. The
  counts keep headlines apart: a headline and a 60-character snippet never share 15 content words, so
  "Putin kicks off India visit" and "Putin concludes India visit" (same actors, another event) stay two
  stories. Items that say the same thing in few words (two headlines announcing the same talks) still pair
  on the cosine alone, at ``STRONG_COSINE``.

Only items published within ``window_days`` of each other pair up (an unknown date sets no limit). The
pairs are joined with union-find, so a story can chain: A~B and B~C put A, B and C together.

Thresholds were calibrated on news text (see the tests and the README): three rewrites of one summit by
three outlets group, a different story on the same actors in the same week does not, and TASS headlines
about different events of the same visit stay apart.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitor.language.features import NUM_PERM, StoryFeatures, stem, text_features
from monitor.language.text import tokens

COPY_JACCARD = 0.5  # estimated Jaccard similarity of 4-word shingles: a near copy
STRONG_COSINE = 0.55  # content-word cosine that is enough on its own (headlines saying the same thing)
MIN_STRONG_CONTENT = 2  # ... when they share at least this many content words
REWRITE_COSINE = 0.2  # content-word cosine for a rewrite, when names and figures agree too:
SPECIFIC_OVERLAP = 0.45  # IDF²-weighted Dice overlap of the names and figures
MIN_SHARED_SPECIFIC = 6  # shared names and figures
MIN_SHARED_CONTENT = 15  # shared content words (a headline and a snippet never have so many)
_DENSE_CELLS = 1_000_000  # items x vocabulary up to which the signals are computed on dense arrays


@dataclass(frozen=True)
class StoryDoc:
    """What grouping looks at. ``terms``: the topic keywords the item matched (optional). Every item of a
    topic shares them by construction, so they say nothing about which event it reports: they are left out
    (pooled over all the items) of the words compared. ``features``: ``text_features(title, text)`` when the
    caller has them already (stored in the story_features view); otherwise they are computed here."""

    title: str
    text: str
    published_at: dt.datetime | None
    terms: tuple[str, ...] = ()
    features: StoryFeatures | None = None


@dataclass
class _Features:
    content: dict[str, int]  # stems of the content words and how often they occur, the title's twice
    specific: set[str]  # stems of names (capitalised words) and figures
    signature: Sequence[int] | None  # MinHash of the 4-word shingles, stopwords included


def group_stories(docs: Sequence[StoryDoc], *, window_days: float = 3.0) -> list[list[int]]:
    """Indexes of ``docs`` grouped by story: every index in exactly one group (singletons too), each group
    sorted, groups ordered by their first index."""
    if not docs:
        return []
    words = _Words([term for doc in docs for term in doc.terms])
    features = [_features(doc, words) for doc in docs]
    parent = list(range(len(docs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    close = _close_in_time(docs, window_days)
    for i, j in _copy_pairs(features) + _rewrite_pairs(features):
        if close[i, j]:
            a, b = find(i), find(j)
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(len(docs)):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def pair_scores(docs: Sequence[StoryDoc]) -> dict[str, np.ndarray]:
    """The rewrite signals as n×n matrices, ``cosine``, ``overlap``, ``specific`` and ``content`` (shared
    counts): for calibration and for explaining a grouping."""
    words = _Words([term for doc in docs for term in doc.terms])
    return _rewrite_signals([_features(doc, words) for doc in docs])


class _Words:
    """Which words the topic's terms take out: their stems, and the prefixes of their wildcards."""

    def __init__(self, terms: Sequence[str]) -> None:
        self.generic: set[str] = set()
        prefixes: list[str] = []
        for label in terms:  # "meet*" is a prefix; "..." (a gap) splits like a space
            for raw in label.replace("…", " ").replace("...", " ").split():
                for tok in tokens(raw.rstrip("*")):
                    if raw.endswith("*") and len(tok.norm) >= 3:
                        prefixes.append(tok.norm)
                    else:
                        self.generic.add(stem(tok.norm))
        self.prefixes = tuple(prefixes)

    def keeps(self, word: str, word_stem: str) -> bool:
        return word_stem not in self.generic and not (self.prefixes and word.startswith(self.prefixes))


def _features(doc: StoryDoc, words: _Words) -> _Features:
    stored = doc.features if doc.features is not None else text_features(doc.title, doc.text)
    content: dict[str, int] = {}
    specific: set[str] = set()
    for word, word_stem, weight, is_specific in zip(stored.words, stored.stems, stored.weights, stored.specific,
                                                    strict=True):
        if words.keeps(word, word_stem):
            content[word_stem] = content.get(word_stem, 0) + weight
            if is_specific:
                specific.add(word_stem)
    return _Features(content, specific, stored.signature)


def _close_in_time(docs: Sequence[StoryDoc], window_days: float) -> np.ndarray:
    stamps = np.array([_timestamp(doc.published_at) for doc in docs], dtype=float)
    known = ~np.isnan(stamps)
    with np.errstate(invalid="ignore"):
        close = np.abs(stamps[:, None] - stamps[None, :]) <= window_days * 86400.0
    return close | ~(known[:, None] & known[None, :])  # an unknown date sets no limit


def _timestamp(value: dt.datetime | None) -> float:
    if value is None:
        return float("nan")
    if value.tzinfo is None:  # naive: taken as UTC, as the store keeps them
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


@functools.cache
def _lsh_params(threshold: float = COPY_JACCARD, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """The LSH bands and rows for the threshold, as datasketch's ``MinHashLSH(threshold, num_perm)`` chooses them:
    the (bands, rows) with bands x rows <= num_perm that minimise the false positive probability (a pair below the
    threshold sharing a band) plus the false negative one (a pair above it sharing none), weighted 0.5 each, the
    first minimum in its order of search. datasketch integrates with scipy's ``quad`` (scipy.integrate: seconds to
    import, ~60 MB); the integrands are polynomials of degree bands x rows, which Gauss-Legendre quadrature with
    num_perm / 2 + 1 nodes integrates exactly (to rounding). A test holds the choice equal to datasketch's."""
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)

    def integral(lo: float, hi: float, bands: int, rows: int) -> float:
        s = (hi - lo) / 2 * nodes + (hi + lo) / 2
        return float((hi - lo) / 2 * (weights @ (1 - s ** float(rows)) ** float(bands)))

    best, chosen = math.inf, (0, 0)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            # P(a pair shares a band) = 1 - (1 - s^r)^b at Jaccard similarity s
            false_positive = threshold - integral(0.0, threshold, bands, rows)
            false_negative = integral(threshold, 1.0, bands, rows)
            error = 0.5 * false_positive + 0.5 * false_negative
            if error < best:
                best, chosen = error, (bands, rows)
    return chosen


def _copy_pairs(features: list[_Features]) -> list[tuple[int, int]]:
    """Pairs whose signatures agree in at least ``COPY_JACCARD`` of their values, among the candidates that share
    a band (datasketch's LSH bands and rows for that threshold; the same candidates as its ``MinHashLSH``, found
    with one dictionary per band rather than an index built for queries)."""
    bands, rows = _lsh_params()
    indexes = [i for i, feat in enumerate(features) if feat.signature is not None]  # title-only items have none
    if len(indexes) < 2:
        return []
    signatures = np.array([features[i].signature for i in indexes], dtype=np.uint64)
    candidates: set[tuple[int, int]] = set()
    for band in range(bands):
        buckets: dict[bytes, list[int]] = {}
        for row, values in enumerate(signatures[:, band * rows:(band + 1) * rows]):
            buckets.setdefault(values.tobytes(), []).append(row)
        for members in buckets.values():
            if len(members) > 1:
                candidates.update((a, b) for k, a in enumerate(members) for b in members[k + 1:])
    pairs = []
    for a, b in sorted(candidates):
        # LeanMinHash.jaccard: the share of equal values.
        if float(np.count_nonzero(signatures[a] == signatures[b])) / NUM_PERM >= COPY_JACCARD:
            pairs.append((indexes[a], indexes[b]))
    return pairs


def _rewrite_signals(features: list[_Features]) -> dict[str, np.ndarray]:
    n = len(features)
    if not any(f.content for f in features):
        zero = np.zeros((n, n))
        return {"cosine": zero, "overlap": zero, "specific": zero, "content": zero}
    # The counts CountVectorizer would make of the content words (columns in alphabetical order), made from the
    # counts each item keeps; then scikit-learn's TF-IDF (sublinear, smoothed, l2), as TfidfVectorizer applies it.
    # The cosines agree with TfidfVectorizer's to the last few bits (6e-15: the order of a sum).
    vocabulary = {word: k for k, word in enumerate(sorted({word for feat in features for word in feat.content}))}
    indptr, indices, counts = [0], [], []
    for feat in features:
        row = sorted((vocabulary[word], count) for word, count in feat.content.items())
        indices.extend(column for column, _ in row)
        counts.extend(count for _, count in row)
        indptr.append(len(indices))
    shape = (n, len(vocabulary))
    # The CSR arrays of the counts (rows' columns sorted); scipy only when the vocabulary is wide (below).
    columns, row_starts = np.array(indices, dtype=np.int32), np.array(indptr, dtype=np.int32)
    # TfidfTransformer(sublinear_tf=True)'s arithmetic, without its validation (most of a small digest's time):
    # tf = 1 + ln(count), idf = ln((1 + n) / (1 + df)) + 1, each row scaled to unit length.
    idf = np.log((n + 1) / (np.bincount(columns, minlength=shape[1]) + 1.0)) + 1.0
    data = (np.log(np.array(counts, dtype=np.float64)) + 1.0) * idf[columns]
    row_of = np.repeat(np.arange(n), np.diff(row_starts))
    norms = np.sqrt(np.bincount(row_of, weights=data * data, minlength=n))
    data /= np.where(norms == 0, 1.0, norms)[row_of]
    rows, cols = [], []
    for i, feat in enumerate(features):
        for word in feat.specific:
            rows.append(i)
            cols.append(vocabulary[word])
    # Dense arrays and BLAS products while they are small (a digest of a few dozen items, or items sharing a small
    # vocabulary), where scipy's per-operation overhead or a nearly dense sparse product cost several times more;
    # sparse ones for a wide vocabulary. Both give the same values but for the last bits of a sum.
    if n * len(vocabulary) <= _DENSE_CELLS:
        tfidf = np.zeros(shape)
        tfidf[row_of, columns] = data
        spec = np.zeros(shape)
        spec[rows, cols] = 1.0
        present = (tfidf > 0).astype(np.float64)
        weighted = spec * idf  # IDF² weights (below): a name every item carries counts for little, a rare figure a lot

        def gram(m: Any) -> np.ndarray:
            return m @ m.T
    else:
        from scipy import sparse  # here: a wide vocabulary only; the daemon's digests seldom need scipy (~25 MB)

        tfidf = sparse.csr_matrix((data, columns, row_starts), shape=shape)
        spec = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
        present = (tfidf > 0).astype(np.float32)
        weighted = spec @ sparse.diags(idf)

        def gram(m: Any) -> np.ndarray:
            return (m @ m.T).toarray()
    shared = gram(weighted)
    mass = np.diag(shared)
    return {
        "cosine": gram(tfidf),
        "overlap": 2 * shared / np.maximum(mass[:, None] + mass[None, :], 1e-9),
        "specific": gram(spec),
        "content": gram(present),
    }


def _rewrite_pairs(features: list[_Features]) -> list[tuple[int, int]]:
    s = _rewrite_signals(features)
    strong = (s["cosine"] >= STRONG_COSINE) & (s["content"] >= MIN_STRONG_CONTENT)
    rewrite = ((s["cosine"] >= REWRITE_COSINE) & (s["overlap"] >= SPECIFIC_OVERLAP)
               & (s["specific"] >= MIN_SHARED_SPECIFIC) & (s["content"] >= MIN_SHARED_CONTENT))
    i, j = np.nonzero(np.triu(strong | rewrite, k=1))
    return list(zip(i.tolist(), j.tolist(), strict=True))
