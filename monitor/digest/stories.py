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
import itertools
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
_SPARSE_DF = 0.1  # _rewrite_pairs: a word that fewer than this share of the items have is summed pair by pair ...
_SPARSE_WORK = 40_000_000  # ... when such words x items² are enough to be worth it
_SCREEN_MARGIN = 1e-3  # the float32 cosine screen's margin: its rounding error is below 1e-5
_MIX = 0x9E3779B97F4A7C15  # mixes a band's values into one number (the golden ratio's 64 bits)
_SCIPY_PAIRS = 200_000  # _gram: pairs sharing rare words above which scipy's sparse product adds them up
_PAIRWISE_PER_ITEM = 4  # candidates per item above which their signals come from all-pairs products


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
    words = _Words(list(dict.fromkeys(term for doc in docs for term in doc.terms)))  # each term once
    stored = [doc.features if doc.features is not None else text_features(doc.title, doc.text) for doc in docs]
    parent = list(range(len(docs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    stamps = np.array([_timestamp(doc.published_at) for doc in docs], dtype=float)
    for i, j in _copy_pairs([f.signature for f in stored]) + _rewrite_pairs(_columns(stored, words)):
        # An unknown date sets no limit (a NaN difference is never more than the window).
        if not abs(stamps[i] - stamps[j]) > window_days * 86400.0:
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
    generic, prefixes = words.generic, words.prefixes  # Words.keeps, inlined: a digest runs it ~100 times an item
    for word, word_stem, weight, is_specific in zip(stored.words, stored.stems, stored.weights, stored.specific,
                                                    strict=True):
        if word_stem not in generic and not (prefixes and word.startswith(prefixes)):
            content[word_stem] = content.get(word_stem, 0) + weight
            if is_specific:
                specific.add(word_stem)
    return _Features(content, specific, stored.signature)


@dataclass(frozen=True)
class _Columns:
    """The content words of n items as the entries of an items x stems matrix: what ``_features`` keeps of each
    item, for all the items at once. Entries by row, and by column within a row."""

    n: int
    width: int  # the stems: columns
    rows: np.ndarray
    cols: np.ndarray
    counts: np.ndarray  # how often the item has the stem (the title's words twice)
    specific: np.ndarray  # whether the stem is a name or figure in the item


def _columns(stored: Sequence[StoryFeatures], words: _Words) -> _Columns:
    """``_features`` of every item, with a few numpy operations over all their words rather than a Python loop
    over each (~40 ms at 1,000 items): the words the topic's terms take out are dropped, and a stem's weights
    summed per item."""
    lengths = [len(feat.stems) for feat in stored]
    for feat, length in zip(stored, lengths, strict=True):
        if not len(feat.words) == len(feat.weights) == len(feat.specific) == length:
            raise ValueError("story features whose words, stems, weights and specific flags differ in length")
    total = sum(lengths)
    stems = list(itertools.chain.from_iterable(feat.stems for feat in stored))
    vocabulary = {stem: k for k, stem in enumerate(dict.fromkeys(stems))}
    ids = np.fromiter(map(vocabulary.__getitem__, stems), dtype=np.int64, count=total)
    keep = ~np.fromiter((stem in words.generic for stem in vocabulary), dtype=bool, count=len(vocabulary))[ids]
    if words.prefixes:
        folded = list(itertools.chain.from_iterable(feat.words for feat in stored))
        distinct = {word: k for k, word in enumerate(dict.fromkeys(folded))}
        prefixed = np.fromiter((word.startswith(words.prefixes) for word in distinct), dtype=bool, count=len(distinct))
        keep &= ~prefixed[np.fromiter(map(distinct.__getitem__, folded), dtype=np.int64, count=total)]
    weights = np.fromiter(itertools.chain.from_iterable(feat.weights for feat in stored), dtype=np.int64, count=total)
    specific = np.fromiter(itertools.chain.from_iterable(feat.specific for feat in stored), dtype=bool, count=total)
    rows = np.repeat(np.arange(len(stored), dtype=np.int64), lengths)
    # One entry per item and stem (words of one stem are summed; a stem is specific if one of its words is).
    entries, entry = np.unique((rows * len(vocabulary) + ids)[keep], return_inverse=True)
    return _Columns(len(stored), len(vocabulary), entries // len(vocabulary), entries % len(vocabulary),
                    np.bincount(entry, weights=weights[keep], minlength=len(entries)).astype(np.int64),
                    np.bincount(entry, weights=specific[keep], minlength=len(entries)) > 0)


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


def _copy_pairs(signatures: Sequence[Sequence[int] | None]) -> list[tuple[int, int]]:
    """Pairs whose signatures agree in at least ``COPY_JACCARD`` of their values, among the candidates that share
    a band (datasketch's LSH bands and rows for that threshold; the same candidates as its ``MinHashLSH``), in
    order. Each band's values are mixed into one number and sorted, all bands at once; items whose numbers are
    equal share the band if their values are (a mix can collide: the values decide)."""
    bands, rows = _lsh_params()
    indexes = [i for i, signature in enumerate(signatures) if signature is not None]  # title-only items have none
    m = len(indexes)
    if m < 2:
        return []
    values = np.array([signatures[i] for i in indexes], dtype=np.uint64)
    banded = values[:, :bands * rows].reshape(m, bands, rows)
    mixed = banded[:, :, 0].copy()
    for k in range(1, rows):
        mixed = (mixed * np.uint64(_MIX)) ^ banded[:, :, k]  # wraps around: a hash, not a sum
    order = np.argsort(mixed, axis=0, kind="stable")  # per band; equal numbers end up next to each other
    ranked = np.take_along_axis(mixed, order, axis=0)
    firsts, seconds = [], []
    for step in range(1, m):  # each item with the one ``step`` places on that has the same number
        same = ranked[step:] == ranked[:-step]
        if not same.any():
            break
        first, second = order[:-step][same], order[step:][same]
        band = np.nonzero(same)[1]
        shared = np.all(banded[first, band] == banded[second, band], axis=1)
        firsts.append(np.minimum(first, second)[shared])
        seconds.append(np.maximum(first, second)[shared])
    if not firsts:
        return []
    candidates = np.unique(np.concatenate(firsts) * m + np.concatenate(seconds))  # each pair once, sorted
    first, second = candidates // m, candidates % m
    # LeanMinHash.jaccard: the share of equal values.
    equal = np.count_nonzero(values[first] == values[second], axis=1) / NUM_PERM >= COPY_JACCARD
    return [(indexes[a], indexes[b]) for a, b in zip(first[equal].tolist(), second[equal].tolist(), strict=True)]


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


def _rewrite_pairs(columns: _Columns) -> list[tuple[int, int]]:
    """The pairs that ``_rewrite_signals`` passes (``_reference_pairs``), without its four all-pairs products over
    the whole vocabulary (~0.5 s at 1,000 items). Every rewrite has a cosine of at least ``STRONG_COSINE``, or of
    at least ``REWRITE_COSINE`` with ``MIN_SHARED_SPECIFIC`` shared names and figures: one all-pairs cosine in
    float32 (a screen, with a margin far above its rounding) and the count of shared names (exact) find the
    candidates, and each candidate's signals are then computed as before, in float64, from the two rows alone."""
    n, rows, cols = columns.n, columns.rows, columns.cols
    if n < 2 or not len(cols):
        return []
    # TF-IDF as in _rewrite_signals (TfidfTransformer(sublinear_tf=True)'s arithmetic).
    df = np.bincount(cols, minlength=columns.width)
    idf = np.log((n + 1) / (df + 1.0)) + 1.0
    data = (np.log(columns.counts.astype(np.float64)) + 1.0) * idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=n))
    data /= np.where(norms == 0, 1.0, norms)[rows]
    spec_rows, spec_cols = rows[columns.specific], cols[columns.specific]
    spec_df = np.bincount(spec_cols, minlength=columns.width)
    screen = _gram(n, rows, cols, data.astype(np.float32), df, np.float32)
    specific = _gram(n, spec_rows, spec_cols, np.ones(len(spec_cols), dtype=np.float32), spec_df, np.float32)
    i, j = np.nonzero(np.triu((screen >= STRONG_COSINE - _SCREEN_MARGIN) | (
        (screen >= REWRITE_COSINE - _SCREEN_MARGIN) & (specific >= MIN_SHARED_SPECIFIC)), k=1))
    if not len(i):
        return []
    if len(i) > _PAIRWISE_PER_ITEM * n:  # most pairs are candidates: the all-pairs products cost less
        cosine = _gram(n, rows, cols, data, df, np.float64)[i, j]
        content = _gram(n, rows, cols, np.ones(len(cols), dtype=np.float32), df, np.float32)[i, j]
        shared_specific = specific[i, j]
        names = _gram(n, spec_rows, spec_cols, idf[spec_cols], spec_df, np.float64)[i, j]
    else:  # each candidate from its two rows: the words they share, as products
        cosine, content = _pair_products(n, rows, cols, data, i, j, columns.width)
        names, shared_specific = _pair_products(n, spec_rows, spec_cols, idf[spec_cols], i, j, columns.width)
    mass = np.bincount(spec_rows, weights=idf[spec_cols] ** 2, minlength=n)  # the diagonal of the IDF² products
    overlap = 2 * names / np.maximum(mass[i] + mass[j], 1e-9)
    keep = (((cosine >= STRONG_COSINE) & (content >= MIN_STRONG_CONTENT))
            | ((cosine >= REWRITE_COSINE) & (overlap >= SPECIFIC_OVERLAP) & (shared_specific >= MIN_SHARED_SPECIFIC)
               & (content >= MIN_SHARED_CONTENT)))
    return list(zip(i[keep].tolist(), j[keep].tolist(), strict=True))


def _pair_products(n: int, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, i: np.ndarray, j: np.ndarray,
                   width: int) -> tuple[np.ndarray, np.ndarray]:
    """For each pair (``i``, ``j``) of rows of the matrix with ``values`` at (``rows``, ``cols``) (entries by row,
    then column), the sum of the products over the columns both rows have, and how many columns that is."""
    keys = rows * width + cols  # ascending
    starts = np.searchsorted(rows, np.arange(n + 1))
    counts = starts[i + 1] - starts[i]
    pair = np.repeat(np.arange(len(i)), counts)
    mine = np.repeat(starts[i] - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
    wanted = j[pair] * width + cols[mine]  # the same column in the other row
    found = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    hit = keys[found] == wanted
    products = values[mine[hit]] * values[found[hit]]
    return (np.bincount(pair[hit], weights=products, minlength=len(i)),
            np.bincount(pair[hit], minlength=len(i)))


def _gram(n: int, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, df: np.ndarray,
          dtype: Any) -> np.ndarray:
    """``m @ m.T`` above the diagonal (the rest is left incomplete) for the n-row matrix with ``values`` at
    (``rows``, ``cols``), entries by row, ``df`` the items per column: a column of one item adds to no pair and is
    left out; columns of many items go into a dense BLAS product; for the others, each of few items, the products
    of each pair of items that share one are added up (numpy: the daemon does not load scipy), or by scipy's sparse
    product when there are very many such pairs."""
    shared = df[cols] >= 2
    dense_column = df >= max(2.0, n * _SPARSE_DF)
    if np.count_nonzero((df >= 2) & ~dense_column) * n * n < _SPARSE_WORK:  # few: all in the dense product
        dense_column = df >= 2
    in_dense = shared & dense_column[cols]
    if in_dense.any():
        index = np.cumsum(dense_column) - 1  # a dense column's place among the dense ones
        matrix = np.zeros((n, int(np.count_nonzero(dense_column))), dtype=dtype)
        matrix[rows[in_dense], index[cols[in_dense]]] = values[in_dense]
        out = matrix @ matrix.T
    else:
        out = np.zeros((n, n), dtype=dtype)
    in_sparse = shared & ~dense_column[cols]
    sparse_df = df[(df >= 2) & ~dense_column]
    if in_sparse.any() and int((sparse_df * (sparse_df - 1) // 2).sum()) > _SCIPY_PAIRS:
        from scipy import sparse  # here: many pairs share rare words (a wide vocabulary, copies), seldom in a digest

        matrix = sparse.csr_matrix((values[in_sparse], (rows[in_sparse], cols[in_sparse])), shape=(n, len(df)))
        out += (matrix @ matrix.T).toarray()
    elif in_sparse.any():
        order = np.argsort(cols[in_sparse], kind="stable")  # by column, and by row within one
        column, row, value = cols[in_sparse][order], rows[in_sparse][order], values[in_sparse][order]
        cells, products = [], []
        start = np.arange(len(column) - 1)  # entries that may still meet one further on in their column
        for step in range(1, len(column)):  # each entry with the one ``step`` places on in the same column
            start = start[start + step < len(column)]
            start = start[column[start + step] == column[start]]
            if not len(start):
                break
            cells.append(row[start] * n + row[start + step])
            products.append(value[start] * value[start + step])
        out += np.bincount(np.concatenate(cells), weights=np.concatenate(products), minlength=n * n).reshape(n, n)
    return out


def _reference_pairs(features: list[_Features]) -> list[tuple[int, int]]:
    """The rewrite pairs from the all-pairs signals (``_rewrite_signals``): what ``_rewrite_pairs`` must equal."""
    s = _rewrite_signals(features)
    strong = (s["cosine"] >= STRONG_COSINE) & (s["content"] >= MIN_STRONG_CONTENT)
    rewrite = ((s["cosine"] >= REWRITE_COSINE) & (s["overlap"] >= SPECIFIC_OVERLAP)
               & (s["specific"] >= MIN_SHARED_SPECIFIC) & (s["content"] >= MIN_SHARED_CONTENT))
    i, j = np.nonzero(np.triu(strong | rewrite, k=1))
    return list(zip(i.tolist(), j.tolist(), strict=True))
