"""What story grouping keeps of an item's text, computed once per text: its content words and MinHash signature.

``text_features(title, text)`` reads the text the way ``monitor.digest.stories`` compares items:

- **content words**: each distinct word (its folded form) that is no stopword (scikit-learn's English list plus
  news boilerplate words), no lone letter, and not in the dateline that opens a story, with its crude stem, how
  often it occurs (the title counted twice) and whether it is *specific* (always capitalised where it occurs in
  that part: a name; or a figure);
- **the signature**: MinHash (datasketch's scheme, ``NUM_PERM`` permutations of CRC-32 hashes, seed 1, computed by
  ``monitor.language.minhash``) over every ``SHINGLE`` consecutive words, stopwords included; None for a text with
  fewer than 3 shingles (a title alone).

Nothing here depends on the other items of a digest: the topic's own terms, which grouping leaves out, are
filtered when grouping (``StoryFeatures.words`` keeps them), so the features can be stored in a view
(``monitor.views``: ``story_features``) when an article is tagged, and a digest groups from what is stored.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.language import minhash
from monitor.language.text import fold, tokens
from monitor.language.tfidf import english_stop_words

if TYPE_CHECKING:
    from datasketch import MinHash

SHINGLE = 4
NUM_PERM = 64
SEED = 1
# Story grouping reads this much of each article: the lede and body carry the facts that rewrites share.
STORY_TEXT_CHARS = 2500

# Words a news report uses whatever the event, on top of scikit-learn's English stopwords.
_NEWS_WORDS = frozenset("""
said says say told tell according reported report reports reporting added noted stated statement statements
news agency agencies correspondent correspondents official officially officials source sources
year years month months week weeks day days today yesterday tomorrow time times new also just like
monday tuesday wednesday thursday friday saturday sunday january february march april may june july august
september october november december jan feb mar apr jun jul aug sep sept oct nov dec
mr mrs ms dr percent per cent pc
""".split())


@functools.cache
def stop_words() -> frozenset[str]:
    """scikit-learn's English stopwords (shipped as data: importing scikit-learn costs the daemon seconds and
    ~95 MB) and the words of news itself."""
    return english_stop_words() | _NEWS_WORDS

# A dateline opening a story: "MOSCOW, November 14. /TASS/.", "NEW DELHI, Dec 5 (Reuters) -", "New Delhi:".
_DATELINE = re.compile(
    r"^\s*(?:[A-Z][A-Za-z./' -]{1,40}?,\s*(?:[A-Z][a-z]{2,8}\.?\s+\d{1,2}|\d{1,2}\s+[A-Z][a-z]{2,8})(?:,?\s+\d{4})?"
    r"\.?\s*(?:/[^/\n]{1,20}/\.?|\([^)\n]{1,20}\))?\s*[—–-]*|[A-Z][A-Za-z ]{1,25}:(?=\s))\s*")


@dataclass(frozen=True)
class StoryFeatures:
    """Per distinct content word (its folded form): its stem, weight and whether it is specific, in the order the
    words first occur; ``signature``: the MinHash values, or None. Stored as JSON with the words and the stems
    each joined by spaces (no word holds one): a digest reads hundreds, and JSON arrays of many short strings,
    or an object of small arrays, take several times longer to parse."""

    words: Sequence[str]
    stems: Sequence[str]
    weights: Sequence[int]
    specific: Sequence[bool]
    signature: Sequence[int] | None

    def as_json(self) -> dict[str, Any]:
        """The ``words`` and ``signature`` columns of the story_features view."""
        return {"words": {"words": " ".join(self.words), "stems": " ".join(self.stems),
                          "weights": list(self.weights), "specific": [bool(s) for s in self.specific]},
                "signature": list(self.signature) if self.signature is not None else None}

    @classmethod
    def from_json(cls, words: dict[str, Any], signature: Sequence[int] | None) -> StoryFeatures:
        return cls(words["words"].split(), words["stems"].split(), words["weights"], words["specific"], signature)


def stem(word: str) -> str:
    """A crude but consistent suffix stripper: "agreements"/"agreement", "signed"/"signing"/"sign"."""
    if len(word) <= 4 or not word.isalpha():
        return word
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + repl
    return word


@functools.cache
def minhash_template() -> MinHash:
    """datasketch's MinHash with the permutations of the signatures (CRC-32 as the shingle hash), which computed
    them before #19. Signatures come from ``monitor.language.minhash`` now, with the same values; this stays for
    comparison (tests) and needs datasketch, a test dependency since."""
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=zlib.crc32)


_STEMS: dict[str, str | None] = {}  # word -> stem, None for a stopword or a lone letter; bounded below


def _content_stem(word: str) -> str | None:
    found = _STEMS.get(word, "")
    if found == "":
        found = None if word in stop_words() or (len(word) < 2 and not word.isdigit()) else stem(word)
        if len(_STEMS) > 200_000:
            _STEMS.clear()
        _STEMS[word] = found
    return found


def text_features(title: str, text: str) -> StoryFeatures:
    """The features of one item (``text`` as grouping reads it: the caller cuts it to ``STORY_TEXT_CHARS``)."""
    words: dict[str, tuple[str, int, bool]] = {}
    norms: list[str] = []
    for part, weight in ((title or "", 2), (_DATELINE.sub("", text or "", count=1), 1)):
        toks = tokens(part, fold(part))
        lowered = {t.norm for t in toks if part[t.start].islower()}
        for tok in toks:
            norm = tok.norm
            norms.append(norm)
            word_stem = _content_stem(norm)
            if word_stem is None:
                continue
            # A name is capitalised wherever it occurs ("Officials" opening a sentence is not a name).
            specific = norm not in lowered and (part[tok.start].isupper() or norm[0].isdigit())
            known = words.get(norm)
            words[norm] = (word_stem, weight, specific) if known is None else (
                word_stem, known[1] + weight, known[2] or specific)
    shingles = {" ".join(norms[k:k + SHINGLE]) for k in range(len(norms) - SHINGLE + 1)}
    signature = None
    if len(shingles) >= 3:  # else a title-only item: the rewrite signals decide
        signature = minhash.signature([s.encode("utf-8") for s in shingles], NUM_PERM, SEED)
    return StoryFeatures(list(words), [v[0] for v in words.values()], [v[1] for v in words.values()],
                         [v[2] for v in words.values()], signature)
