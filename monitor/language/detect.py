"""Which language an article, or one sentence, is written in.

py3langid (langid.py's model, shipped inside the package: nothing is downloaded) restricted to the
languages the topics are written in, so that a short sentence can only be one of them: "Путин встретился
с Моди" is Russian, not Bulgarian or Ukrainian, when the topics have no terms in those. The model is loaded
on first use (about a second), once per process, and shared: classifying is read-only.

The script decides first, when it can: of the configured languages, only one may be written in the
text's main script (with en, ru and hi: Latin is English, Cyrillic Russian, Devanagari Hindi), and then
that is the answer, for a one-word sentence too, without the model. The model decides among the configured
languages that share the script (en and fr; ru and uk), and among all it knows when no configured
language uses the script.

Text with no letters at all ("2025", "—") has no language: ``None``.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable

from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

DEFAULT_LANGUAGES = ("en", "ru", "hi")
ARTICLE_CHARACTERS = 3000  # an article's language is judged on its title and first characters: enough, and fast
# The script each language langid knows is written in, for the ones whose script differs from Latin; the
# rest are written in Latin.
_SCRIPT_OF = {
    **dict.fromkeys(("ru", "uk", "be", "bg", "mk", "sr", "kk", "ky", "mn"), "cyrillic"),
    **dict.fromkeys(("hi", "mr", "ne"), "devanagari"),
    "bn": "bengali", "as": "bengali", "pa": "gurmukhi", "gu": "gujarati", "or": "oriya", "ta": "tamil",
    "te": "telugu", "kn": "kannada", "ml": "malayalam", "si": "sinhala",
    **dict.fromkeys(("ar", "fa", "ur", "ps", "ug"), "arabic"), "he": "hebrew", "el": "greek",
    "hy": "armenian", "ka": "georgian", "th": "thai", "lo": "lao", "km": "khmer", "am": "ethiopic",
    "zh": "han", "ja": "japanese", "ko": "hangul",
}
# Letters by script, by code point ranges (Latin: the letters and accented letters of Western alphabets).
_RANGES = {
    "latin": "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f", "greek": "\u0370-\u03ff",
    "cyrillic": "\u0400-\u052f", "armenian": "\u0530-\u058f", "hebrew": "\u0590-\u05ff",
    "arabic": "\u0600-\u06ff", "devanagari": "\u0900-\u097f", "bengali": "\u0980-\u09ff",
    "gurmukhi": "\u0a00-\u0a7f", "gujarati": "\u0a80-\u0aff", "oriya": "\u0b00-\u0b7f",
    "tamil": "\u0b80-\u0bff", "telugu": "\u0c00-\u0c7f", "kannada": "\u0c80-\u0cff",
    "malayalam": "\u0d00-\u0d7f", "sinhala": "\u0d80-\u0dff", "thai": "\u0e00-\u0e7f", "lao": "\u0e80-\u0eff",
    "georgian": "\u10a0-\u10ff", "ethiopic": "\u1200-\u137f", "khmer": "\u1780-\u17ff",
    "japanese": "\u3040-\u30ff", "han": "\u4e00-\u9fff", "hangul": "\uac00-\ud7af",
}
_LETTERS = {name: re.compile(f"[{chars}]") for name, chars in _RANGES.items()}
_ANY_LETTER = re.compile(r"[^\W\d_]")


def script_of(text: str, scripts: Iterable[str] | None = None) -> str | None:
    """The script most of the letters of ``text`` are written in, among ``scripts`` (default: all known);
    "other" when its letters are in none of them, None when it has no letters. A few regex passes: an
    article's language costs little beside its tagging."""
    if text.isascii():
        return "latin" if _ANY_LETTER.search(text) else None
    names = list(scripts or _RANGES)
    present = [name for name in names if name != "latin" and _LETTERS[name].search(text)]
    if not present and "latin" in names and _LETTERS["latin"].search(text):
        return "latin"  # most non-ASCII text is Latin with curly quotes and dashes: no counting needed
    counts = {name: len(_LETTERS[name].findall(text)) for name in (*present, "latin") if name in names}
    best = max(counts, key=counts.__getitem__, default=None)
    if best is not None and counts[best]:
        return best
    return "other" if _ANY_LETTER.search(text) else None


_lock = threading.Lock()
_model: LanguageIdentifier | None = None
_restricted: dict[tuple[str, ...], LanguageIdentifier] = {}


def _identifier(languages: tuple[str, ...]) -> LanguageIdentifier:
    global _model
    with _lock:
        found = _restricted.get(languages)
        if found is not None:
            return found
        if _model is None:
            _model = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=False)
        # set_languages replaces the copy's arrays with slices; the full model's stay shared and unchanged.
        identifier = copy.copy(_model)
        known = [code for code in languages if code in _model.labels]
        identifier.set_languages(known or None)
        _restricted[languages] = identifier
        return identifier


class Detector:
    """Language detection restricted to ``languages`` (ISO 639-1 codes langid knows; others are ignored)."""

    def __init__(self, languages: Iterable[str] = DEFAULT_LANGUAGES) -> None:
        self.languages = tuple(sorted(set(languages))) or DEFAULT_LANGUAGES
        self.scripts = sorted({_SCRIPT_OF.get(code, "latin") for code in self.languages})

    def detect(self, text: str) -> str | None:
        """The language of ``text``, or None when it has no letters."""
        script = script_of(text, self.scripts)
        if script is None:
            return None
        candidates = tuple(code for code in self.languages if _SCRIPT_OF.get(code, "latin") == script)
        if len(candidates) == 1:
            return candidates[0]
        # Several configured languages share the script: the model chooses among them. None does: the model,
        # unrestricted, says what the text is (a Tamil article is not called English).
        code, _ = _identifier(candidates).classify(text)
        return str(code)

    def article(self, title: str, text: str) -> str | None:
        """The language of an article, from its title and the start of its text."""
        return self.detect(f"{title}\n{text[:ARTICLE_CHARACTERS]}")


def detect(text: str, languages: Iterable[str] = DEFAULT_LANGUAGES) -> str | None:
    """The language of ``text`` among ``languages`` (default: en, ru, hi), or None when it has no letters."""
    return Detector(languages).detect(text)
