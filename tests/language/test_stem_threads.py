"""Stemming from many threads at once (the daemon tags in its polling threads) gives what one thread gives:
a Snowball stemmer keeps the word it works on in itself, so one shared by threads garbles words."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import snowballstemmer

from monitor.language import stem

BASES = ("переговор", "президент", "саммит", "встреч", "министр", "बैठक", "मुलाकात", "प्रधानमंत्र", "राष्ट्रपत")
ENDINGS = ("", "а", "ами", "ах", "ов", "ом", "ой", "ые", "ों", "ें", "ियों", "ाओं")


def test_concurrent_stemming_gives_the_serial_stems() -> None:
    # Distinct words (a counter spelt in the word's own script), so the cache never answers for the stemmer.
    words = []
    for i in range(6000):
        base, ending = BASES[i % len(BASES)], ENDINGS[i % len(ENDINGS)]
        digits = "".join(chr((0x0430 if base[0] < "\u0900" else 0x0915) + int(d)) for d in str(i))
        words.append(base + digits + ending)
    fresh = {name: snowballstemmer.stemmer(name) for name in ("russian", "hindi")}
    expected = []
    for word in words:
        stemmed = fresh[stem.algorithm(word)].stemWord(word)
        expected.append(stemmed if len(stemmed) >= stem.MIN_STEM else None)
    stem.stem.cache_clear()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads change hands as often as they can: a shared stemmer would be caught
    try:
        with ThreadPoolExecutor(8) as pool:
            chunks = [words[i::8] for i in range(8)]
            results = list(pool.map(lambda chunk: [stem.stem(w) for w in chunk], chunks))
    finally:
        sys.setswitchinterval(interval)
    got = {w: s for chunk, out in zip(chunks, results, strict=True) for w, s in zip(chunk, out, strict=True)}
    assert [got[w] for w in words] == expected
