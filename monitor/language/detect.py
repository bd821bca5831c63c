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
import threading
from collections.abc import Iterable

from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

DEFAULT_LANGUAGES = ("en", "ru", "hi")
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
# Letters by script, for the few scripts whose letters the configured languages may use, by code point.
_RANGES = (
    (0x0041, 0x024F, "latin"), (0x0370, 0x03FF, "greek"), (0x0400, 0x052F, "cyrillic"),
    (0x0530, 0x058F, "armenian"), (0x0590, 0x05FF, "hebrew"), (0x0600, 0x06FF, "arabic"),
    (0x0900, 0x097F, "devanagari"), (0x0980, 0x09FF, "bengali"), (0x0A00, 0x0A7F, "gurmukhi"),
    (0x0A80, 0x0AFF, "gujarati"), (0x0B00, 0x0B7F, "oriya"), (0x0B80, 0x0BFF, "tamil"),
    (0x0C00, 0x0C7F, "telugu"), (0x0C80, 0x0CFF, "kannada"), (0x0D00, 0x0D7F, "malayalam"),
    (0x0D80, 0x0DFF, "sinhala"), (0x0E00, 0x0E7F, "thai"), (0x0E80, 0x0EFF, "lao"), (0x10A0, 0x10FF, "georgian"),
    (0x1200, 0x137F, "ethiopic"), (0x1780, 0x17FF, "khmer"), (0x3040, 0x30FF, "japanese"),
    (0x4E00, 0x9FFF, "han"), (0xAC00, 0xD7AF, "hangul"),
)


def script_of(text: str) -> str | None:
    """The script most of the letters of ``text`` are written in, or None when it has no letters."""
    counts: dict[str, int] = {}
    for ch in text:
        if not ch.isalpha():
            continue
        code = ord(ch)
        name = next((n for low, high, n in _RANGES if low <= code <= high), "other")
        counts[name] = counts.get(name, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else None

ARTICLE_CHARACTERS = 3000  # an article's language is judged on its title and first characters: enough, and fast

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

    def detect(self, text: str) -> str | None:
        """The language of ``text``, or None when it has no letters."""
        script = script_of(text)
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
