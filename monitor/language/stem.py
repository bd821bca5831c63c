"""Inflection: which words of a keyword match which words of a text, by script.

English keywords match as written (``meet*`` for a prefix). Russian and Hindi inflect, and a watch list
cannot enumerate every form of a name: Путин, Путина, Путину, Путиным; переговоры, переговорах; बैठक,
बैठकों. So a word in Cyrillic or Devanagari is reduced to its Snowball stem (``snowballstemmer`` ships
both algorithms, pure Python, no data to download), and a keyword word matches a text word when

- they are the same word, or
- the text word's stem is the keyword word itself or its stem.

The keyword's own form counts because Snowball stems the base form of some names harder than the
inflected ones (Лавров -> лавр, but Лаврова -> лавров; саммит -> самм, but саммита -> саммит).

A stem of fewer than ``MIN_STEM`` characters is not used: short stems conflate unrelated words
(Моди -> мод, as мода "fashion"; визит -> виз, as визы "visas"), so such a keyword word matches only its
own forms whose stem is the whole word, or the word plus a Russian case ending (визит: визита,
визите, визитом), or as written. A keyword that
needs more forms lists them, as a non-programmer would ("Индия", "Индии", "Индию").
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

import snowballstemmer

MIN_STEM = 4

# Script ranges (inclusive) and the Snowball algorithm for the language written in them.
_SCRIPTS = (
    (0x0400, 0x052F, "russian"),  # Cyrillic and its supplement
    (0x0900, 0x097F, "hindi"),  # Devanagari
)
NUKTA = "\u093c"  # Devanagari's dot below (ज़, फ़): written or not, the same word to a reader and here
_LANGUAGE_OF = {"russian": "ru", "hindi": "hi"}
# A Snowball stemmer keeps the word it works on in itself: one shared by the polling threads garbles words
# (and raised IndexError under load), so each thread has its own.
_LOCAL = threading.local()


def _stemmer(name: str) -> Any:
    stemmers = getattr(_LOCAL, "stemmers", None)
    if stemmers is None:
        stemmers = _LOCAL.stemmers = {n: snowballstemmer.stemmer(n) for _, _, n in _SCRIPTS}
    return stemmers[name]


def algorithm(word: str) -> str | None:
    """The Snowball algorithm for ``word``'s script (by its first letter), or None (no stemming)."""
    if not word or word.isascii():
        return None
    code = ord(word[0])
    for low, high, name in _SCRIPTS:
        if low <= code <= high:
            return name
    return None


def script_language(word: str) -> str:
    """The language a word's script stands for here: ru (Cyrillic), hi (Devanagari), else en."""
    name = algorithm(word)
    return _LANGUAGE_OF[name] if name else "en"


@lru_cache(maxsize=65536)
def stem(word: str) -> str | None:
    """The Snowball stem of a folded word, when its script has a stemmer and the stem is long enough."""
    name = algorithm(word)
    if name is None:
        return None
    stemmed = _stemmer(name).stemWord(word)
    return stemmed if len(stemmed) >= MIN_STEM else None


def keys(word: str) -> tuple[str, ...]:
    """What a text word's stem may be for it to match the keyword word ``word`` (empty: match as written)."""
    if algorithm(word) is None:
        return ()
    own = stem(word)
    return (word,) if own is None or own == word else (word, own)


# Russian case endings added to a word that ends in a consonant: Путин-а, визит-е, саммит-ом. Snowball takes
# some of these forms further (визите -> виз), so the keyword written in its base form is also matched by
# itself plus one of these.
_RUSSIAN_ENDINGS = frozenset({"а", "у", "е", "ы", "и", "ом", "ем", "ым", "им", "ов", "ев", "ой", "ам", "ами", "ах",
                              "ого", "ому", "ую"})


def matches(keyword_keys: tuple[str, ...], keyword_word: str, norm: str) -> bool:
    """Whether the text word ``norm`` matches a keyword word (with ``keys(keyword_word)``)."""
    if norm == keyword_word:
        return True
    if not keyword_keys:
        return False
    if stem(norm) in keyword_keys:
        return True
    return norm.startswith(keyword_word) and norm[len(keyword_word):] in _RUSSIAN_ENDINGS \
        and algorithm(keyword_word) == "russian"


def screen(word: str) -> str:
    """A regex for ``word`` in folded text, as written: in Devanagari, a nukta may follow any letter."""
    if algorithm(word) != "hindi":
        return re.escape(word)
    return "".join(re.escape(ch) + (NUKTA + "?" if "\u0915" <= ch <= "\u0939" else "") for ch in word)


def bases(norm: str) -> list[str]:
    """The words ``norm`` may be one of with a Russian case ending added (визите: визит, визи)."""
    if algorithm(norm) != "russian":
        return []
    return [norm[:-k] for k in (1, 2, 3) if len(norm) > k + 2 and norm[-k:] in _RUSSIAN_ENDINGS]
