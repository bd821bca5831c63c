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
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from monitor.language.text import fold, tokens

COPY_JACCARD = 0.5  # estimated Jaccard similarity of 4-word shingles: a near copy
STRONG_COSINE = 0.55  # content-word cosine that is enough on its own (headlines saying the same thing)
MIN_STRONG_CONTENT = 2  # ... when they share at least this many content words
REWRITE_COSINE = 0.2  # content-word cosine for a rewrite, when names and figures agree too:
SPECIFIC_OVERLAP = 0.45  # IDF²-weighted Dice overlap of the names and figures
MIN_SHARED_SPECIFIC = 6  # shared names and figures
MIN_SHARED_CONTENT = 15  # shared content words (a headline and a snippet never have so many)
SHINGLE = 4
NUM_PERM = 64

# Words a news report uses whatever the event, on top of scikit-learn's English stopwords.
_NEWS_WORDS = frozenset("""
said says say told tell according reported report reports reporting added noted stated statement statements
news agency agencies correspondent correspondents official officially officials source sources
year years month months week weeks day days today yesterday tomorrow time times new also just like
monday tuesday wednesday thursday friday saturday sunday january february march april may june july august
september october november december jan feb mar apr jun jul aug sep sept oct nov dec
mr mrs ms dr percent per cent pc
""".split())
_STOP = frozenset(ENGLISH_STOP_WORDS) | _NEWS_WORDS
# A dateline opening a story: "MOSCOW, November 14. /TASS/.", "NEW DELHI, Dec 5 (Reuters) -", "New Delhi:".
_DATELINE = re.compile(
    r"^\s*(?:[A-Z][A-Za-z./' -]{1,40}?,\s*(?:[A-Z][a-z]{2,8}\.?\s+\d{1,2}|\d{1,2}\s+[A-Z][a-z]{2,8})(?:,?\s+\d{4})?"
    r"\.?\s*(?:/[^/\n]{1,20}/\.?|\([^)\n]{1,20}\))?\s*[—–-]*|[A-Z][A-Za-z ]{1,25}:(?=\s))\s*")


@dataclass(frozen=True)
class StoryDoc:
    """What grouping looks at. ``terms``: the topic keywords the item matched (optional). Every item of a
    topic shares them by construction, so they say nothing about which event it reports: they are left out
    (pooled over all the items) of the words compared."""

    title: str
    text: str
    published_at: dt.datetime | None
    terms: tuple[str, ...] = ()


@dataclass
class _Features:
    content: list[str]  # stems of the content words, the title's twice
    specific: set[str]  # stems of names (capitalised words) and figures
    shingles: set[str]  # every 4 consecutive words, stopwords included


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
    """Which words count, and their stems; each distinct word is looked at once per call."""

    def __init__(self, terms: Sequence[str]) -> None:
        self.generic: set[str] = set()
        prefixes: list[str] = []
        for label in terms:  # "meet*" is a prefix; "..." (a gap) splits like a space
            for raw in label.replace("…", " ").replace("...", " ").split():
                for tok in tokens(raw.rstrip("*")):
                    if raw.endswith("*") and len(tok.norm) >= 3:
                        prefixes.append(tok.norm)
                    else:
                        self.generic.add(_stem(tok.norm))
        self.prefixes = tuple(prefixes)
        self.cache: dict[str, str | None] = {}

    def stem(self, word: str) -> str | None:
        """The stem of a content word; None for a stopword, a topic term or a lone letter."""
        stem = self.cache.get(word, "")
        if stem == "":
            stem = _stem(word)
            if (word in _STOP or (len(word) < 2 and not word.isdigit()) or stem in self.generic
                    or (self.prefixes and word.startswith(self.prefixes))):
                stem = None
            self.cache[word] = stem
        return stem


def _features(doc: StoryDoc, words: _Words) -> _Features:
    content: list[str] = []
    specific: set[str] = set()
    norms: list[str] = []
    for part, weight in ((doc.title or "", 2), (_DATELINE.sub("", doc.text or "", count=1), 1)):
        toks = tokens(part, fold(part))
        lowered = {t.norm for t in toks if part[t.start].islower()}
        for tok in toks:
            norms.append(tok.norm)
            stem = words.stem(tok.norm)
            if stem is None:
                continue
            content.extend((stem,) * weight)
            # A name is capitalised wherever it occurs ("Officials" opening a sentence is not a name).
            if tok.norm not in lowered and (part[tok.start].isupper() or tok.norm[0].isdigit()):
                specific.add(stem)
    shingles = {" ".join(norms[k:k + SHINGLE]) for k in range(len(norms) - SHINGLE + 1)}
    return _Features(content, specific, shingles)


def _stem(word: str) -> str:
    """A crude but consistent suffix stripper: "agreements"/"agreement", "signed"/"signing"/"sign"."""
    if len(word) <= 4 or not word.isalpha():
        return word
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + repl
    return word


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
def _lsh_setup() -> tuple[tuple[int, int], MinHash]:
    """The LSH bands and rows for the threshold (datasketch finds them by numerical integration, which costs
    more than grouping a digest: done once), and one set of permutations for every MinHash."""
    probe = MinHashLSH(threshold=COPY_JACCARD, num_perm=NUM_PERM)
    # CRC-32 as the shingle hash: fast, and the same in every process.
    return (probe.b, probe.r), MinHash(num_perm=NUM_PERM, seed=1, hashfunc=zlib.crc32)


def _copy_pairs(features: list[_Features]) -> list[tuple[int, int]]:
    params, template = _lsh_setup()
    lsh = MinHashLSH(threshold=COPY_JACCARD, num_perm=NUM_PERM, params=params)
    hashes: dict[int, LeanMinHash] = {}
    for i, feat in enumerate(features):
        if len(feat.shingles) < 3:  # a title-only item: the rewrite signals decide
            continue
        minhash = MinHash(num_perm=NUM_PERM, hashfunc=zlib.crc32, permutations=template.permutations,
                          scheme=template.scheme)
        minhash.update_batch([s.encode("utf-8") for s in feat.shingles])
        hashes[i] = LeanMinHash(minhash)
        lsh.insert(i, hashes[i])
    pairs = []
    for i, lean in hashes.items():
        for j in lsh.query(lean):
            if j > i and lean.jaccard(hashes[j]) >= COPY_JACCARD:
                pairs.append((i, j))
    return pairs


def _rewrite_signals(features: list[_Features]) -> dict[str, np.ndarray]:
    n = len(features)
    if not any(f.content for f in features):
        zero = np.zeros((n, n))
        return {"cosine": zero, "overlap": zero, "specific": zero, "content": zero}
    vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True)
    tfidf = vectorizer.fit_transform([f.content for f in features])
    present = (tfidf > 0).astype(np.float32)
    rows, cols = [], []
    for i, feat in enumerate(features):
        for word in feat.specific:
            rows.append(i)
            cols.append(vectorizer.vocabulary_[word])
    spec = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=tfidf.shape)
    # IDF² weights: a name every item carries counts for little, a figure only this event has counts a lot.
    weighted = spec @ sparse.diags(vectorizer.idf_)
    shared = (weighted @ weighted.T).toarray()
    mass = np.diag(shared)
    return {
        "cosine": (tfidf @ tfidf.T).toarray(),
        "overlap": 2 * shared / np.maximum(mass[:, None] + mass[None, :], 1e-9),
        "specific": (spec @ spec.T).toarray(),
        "content": (present @ present.T).toarray(),
    }


def _identity(words: list[str]) -> list[str]:
    return words


def _rewrite_pairs(features: list[_Features]) -> list[tuple[int, int]]:
    s = _rewrite_signals(features)
    strong = (s["cosine"] >= STRONG_COSINE) & (s["content"] >= MIN_STRONG_CONTENT)
    rewrite = ((s["cosine"] >= REWRITE_COSINE) & (s["overlap"] >= SPECIFIC_OVERLAP)
               & (s["specific"] >= MIN_SHARED_SPECIFIC) & (s["content"] >= MIN_SHARED_CONTENT))
    i, j = np.nonzero(np.triu(strong | rewrite, k=1))
    return list(zip(i.tolist(), j.tolist(), strict=True))
