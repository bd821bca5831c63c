"""Text normalisation, tokens with offsets, sentence splitting and keyword terms.

Normalisation folds what should not matter when matching a watch keyword:
- case and diacritics ("Lavróv" = "lavrov"), but not Russian й; ё is е, and in Devanagari ँ is ं and a
  nukta does not count (फ़ोन = फोन);
- hyphens, dashes and slashes: they separate words, so "India–Russia", "India-Russia" and
  "India Russia" are the same two tokens, and "Indo-Russian" is "indo russian";
- possessives: "Modi's" and "Modi’s" are "modi";
- titles need nothing special: "PM Modi" holds the token "modi".

A keyword term is a phrase of tokens; a token ending in ``*`` matches any token it begins
("meet*" matches meet, meets, meeting), and ``...`` (or ``…``) between two words stands for up to
three words ("meeting ... demand*" matches "meeting India's growing energy demands").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from markupsafe import Markup

from monitor.language import stem

# Word characters, and the combining marks that are part of words: Devanagari's vowel signs and virama
# (मोदी is one word, not म and द), and accents left as separate characters.
WORD_MARKS = "\u0300-\u036f\u0483-\u0489\u0900-\u0903\u093a-\u094f\u0951-\u0957\u0962\u0963"
_WORD = re.compile(rf"[\w{WORD_MARKS}]+(?:['’][\w{WORD_MARKS}]+)*", re.UNICODE)
_POSSESSIVE = re.compile(r"['’]s?$")
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "gen", "sen", "rep", "gov", "lt", "col", "capt", "prof", "jr", "sr",
    "u.s", "u.k", "u.n", "e.g", "i.e", "vs", "no", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "inc", "ltd", "co", "corp", "approx", "est", "fig", "p.m", "a.m",
    # Russian: year and city, "named after", street, see, million, billion, thousand, rouble, and so on.
    "гг", "им", "ул", "пр", "просп", "пл", "см", "млн", "млрд", "тыс", "руб", "долл", "ст", "стр", "рис", "св",
    "акад", "проф", "ген", "зам", "обл", "пос", "тел", "напр", "англ", "рус", "лат", "вв", "т.е", "т.к",
    "т.н", "т.д", "т.п", "и.о", "г-н", "г-жа",
    # Hindi: the names of Latin letters, written as initials (एस. जयशंकर is S. Jaishankar), and titles.
    "ए", "बी", "सी", "डी", "ई", "एफ", "जी", "एच", "आई", "जे", "के", "एल", "एम", "एन", "ओ", "पी", "क्यू", "आर", "एस",
    "टी", "यू", "वी", "डब्ल्यू", "एक्स", "वाई", "जेड", "डॉ", "प्रो", "श्री", "सं", "रु",
}
# Initials and dotted abbreviations: "В.В" (of "В.В. Путин"), "U.S", "т.е": single letters between dots.
_DOTTED = re.compile(r"^(?:\w\.)+\w$")
_DANDA = "।॥"  # Devanagari's full stop and double full stop
# A sentence ends at . ! ? … (plus up to two closing quotes/brackets, which stay in the sentence) followed
# by space and an opening capital (Latin or Cyrillic), digit, Devanagari letter or quote; at a danda (।, ॥),
# whatever follows (Devanagari has no capitals); or at a line break.
_CLOSE = "\"'”’»)\\]"
_OPEN = "\"'“‘«„(\\["
_BOUNDARY = re.compile(
    rf"(?:(?<=[.!?…])|(?<=[.!?…][{_CLOSE}])|(?<=[.!?…][{_CLOSE}]{{2}}))\s+"
    rf"(?=[{_OPEN}]?[A-ZÀ-ÞА-ЯЁ0-9\u0904-\u0939\u0958-\u0961\u0966-\u096f])"
    rf"|(?:(?<=[{_DANDA}])|(?<=[{_DANDA}][{_CLOSE}]))(?![{_CLOSE}{_DANDA}])\s*"
    r"|\s*\n+\s*"
)


class Token(NamedTuple):  # a tuple: an article makes thousands, and a dataclass costs more to build
    norm: str
    start: int
    end: int


class Span(NamedTuple):
    text: str
    start: int
    end: int


class _FoldTable(dict[int, str]):
    """str.translate's table for ``fold``, filled on first sight of each character (a few hundred in all)."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        if ch.isascii() or ch in "йЙ":  # й is a letter of its own in Russian, not an и with a mark
            folded = ch.lower()
        elif ch == "\u0901":  # Devanagari's candrabindu and anusvara are written for each other: पहुँचे, पहुंचे
            folded = "\u0902"
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)).lower()
            folded = base if len(base) == 1 else (ch.lower()[:1] or ch)
        self[code] = folded
        return folded


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """Lower-case and strip diacritics, keeping one output character per input character."""
    if text.isascii():
        return text.lower()
    return text.translate(_FOLD)


def tokens(text: str, folded: str | None = None) -> list[Token]:
    """The words of ``text`` (``folded``: ``fold(text)``, when the caller has it already)."""
    if folded is None:
        folded = fold(text)
    out: list[Token] = []
    for match in _WORD.finditer(folded):
        word = match.group()
        start = match.start()
        if "'" not in word and "’" not in word:
            if stem.NUKTA in word:
                word = word.replace(stem.NUKTA, "")  # फ़ोन is फोन (the precomposed letters fold so)
            out.append(Token(word, start, match.end()))
            continue
        for part in _POSSESSIVE.sub("", word).replace("’", "'").split("'"):
            if part:
                out.append(Token(part, start, start + len(part)))
            start += len(part) + 1  # the part and the apostrophe after it
    return out


def sentences(text: str) -> list[Span]:
    """Split prose into sentences with character offsets, leaving common abbreviations and initials whole
    (English and Russian), and splitting Hindi at the danda."""
    spans: list[Span] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if match.start() == match.end() == start:
            continue  # a danda right after the previous boundary: nothing between
        candidate = text[start:match.start()]
        last_word = candidate.rsplit(None, 1)[-1].rstrip(".").lower() if candidate.strip() else ""
        if "\n" not in match.group() and candidate.rstrip(_CLOSE.replace("\\", ""))[-1:] == "." \
                and (last_word in _ABBREVIATIONS or len(last_word) == 1 or _DOTTED.match(last_word)):
            continue  # "Mr. Putin", "U.S. President", "S. Jaishankar", "В. В. Путин", "т.е. Индия": no boundary
        _add_span(spans, text, start, match.start())
        start = match.end()
    _add_span(spans, text, start, len(text))
    return spans


def _add_span(spans: list[Span], text: str, start: int, end: int) -> None:
    chunk = text[start:end]
    stripped = chunk.strip()
    if stripped:
        offset = start + (len(chunk) - len(chunk.lstrip()))
        spans.append(Span(stripped, offset, offset + len(stripped)))


GAP = "..."  # in a compiled term: up to GAP_WORDS words of anything
GAP_WORDS = 3


@dataclass(frozen=True)
class Term:
    """One configured keyword, compiled: ``words`` are normalised tokens (or GAP), ``prefix[i]`` marks a ``*``,
    and ``stems[i]`` are what an inflected text word's stem may be to match word i (``monitor.language.stem``:
    Russian and Hindi words; empty for English, which matches as written)."""

    group: str
    label: str
    words: tuple[str, ...]
    prefix: tuple[bool, ...]
    stems: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if len(self.stems) != len(self.words):
            object.__setattr__(self, "stems", tuple(() if p or w == GAP else stem.keys(w)
                                                    for w, p in zip(self.words, self.prefix, strict=True)))

    @property
    def language(self) -> str:
        """The language of the term's script: en, ru or hi (by its first word)."""
        return stem.script_language(self.words[0])

    def screens(self) -> list[tuple[str, bool]]:
        """What a text must hold where this term matches, for a regex screen over folded text: (a pattern,
        whether it may continue as a longer word), for the term's longest word: "по телефону" is screened by
        телефону, not by по, which every Russian sentence has. An inflected word is screened by its shortest
        key: every form that matches begins so."""
        i = max((i for i, w in enumerate(self.words) if w != GAP), key=lambda i: len(self.words[i]))
        if self.prefix[i]:
            return [(stem.screen(self.words[i]), True)]
        if self.stems[i]:
            return [(stem.screen(min(self.stems[i], key=len)), True)]
        return [(stem.screen(self.words[i]), False)]

    @classmethod
    def compile(cls, group: str, label: str) -> Term | None:
        words: list[str] = []
        prefix: list[bool] = []
        for raw in label.replace("…", " ... ").split():
            if raw == GAP:
                if words and words[-1] != GAP:  # a gap only between words: leading or doubled ones mean nothing
                    words.append(GAP)
                    prefix.append(False)
                continue
            star = raw.endswith("*")
            parts = [t.norm for t in tokens(raw.rstrip("*"))]
            for i, part in enumerate(parts):
                words.append(part)
                prefix.append(star and i == len(parts) - 1)
        if words and words[-1] == GAP:
            words.pop()
            prefix.pop()
        return cls(group, label, tuple(words), tuple(prefix)) if words else None

    def match_end(self, toks: list[Token], i: int, w: int = 0) -> int | None:
        """The index of the last token of a match of words[w:] starting at token i, or None."""
        if w == len(self.words):
            return i - 1
        if self.words[w] == GAP:
            for skip in range(GAP_WORDS + 1):  # the shortest gap that lets the rest match
                end = self.match_end(toks, i + skip, w + 1)
                if end is not None:
                    return end
            return None
        if i >= len(toks):
            return None
        norm = toks[i].norm
        if self.prefix[w]:
            if not norm.startswith(self.words[w]):
                return None
        elif norm != self.words[w] and not (self.stems[w] and stem.matches(self.stems[w], self.words[w], norm)):
            return None
        return self.match_end(toks, i + 1, w + 1)

    def matches_at(self, toks: list[Token], i: int) -> bool:
        return self.match_end(toks, i) is not None


@dataclass(frozen=True)
class TermHit:
    term: Term
    first_token: int
    last_token: int
    start: int
    end: int


class TermIndex:
    """All terms of a topic, indexed by their first word for a single pass over the tokens."""

    def __init__(self, terms: list[Term]) -> None:
        self.exact: dict[str, list[Term]] = {}
        prefixed = [term for term in terms if term.prefix[0]]
        # Inflected first words (Russian, Hindi), by each stem a text word may have to match them.
        self.stemmed: dict[str, list[Term]] = {}
        for term in terms:
            if not term.prefix[0]:
                self.exact.setdefault(term.words[0], []).append(term)
                for key in term.stems[0]:
                    self.stemmed.setdefault(key, []).append(term)
        for bucket in (*self.exact.values(), *self.stemmed.values()):
            bucket.sort(key=lambda t: -len(t.words))
        # Prefixed first words ("meet*"), bucketed by their first few letters: a token looks at one bucket.
        self.stem = min((len(term.words[0]) for term in prefixed), default=0)
        self.prefixed: dict[str, list[Term]] = {}
        for term in prefixed:
            self.prefixed.setdefault(term.words[0][:self.stem], []).append(term)
        self.empty = not terms

    def find(self, toks: list[Token]) -> list[TermHit]:
        hits: list[TermHit] = []
        if self.empty:
            return hits
        for i, tok in enumerate(toks):
            candidates = self.exact.get(tok.norm, ())
            if self.stemmed and not tok.norm.isascii():
                key = stem.stem(tok.norm)
                inflected = [*self.stemmed.get(key, ())] if key is not None else []
                for base in stem.bases(tok.norm):
                    inflected += self.stemmed.get(base, ())
                if inflected:
                    candidates = [*candidates, *(t for t in dict.fromkeys(inflected) if t not in candidates)]
            if self.prefixed:
                bucket = self.prefixed.get(tok.norm[:self.stem])
                if bucket:
                    candidates = [*candidates, *(t for t in bucket if tok.norm.startswith(t.words[0]))]
            for term in candidates:
                last = term.match_end(toks, i)
                if last is not None:
                    hits.append(TermHit(term, i, last, tok.start, toks[last].end))
        return hits


def without_excluded(hits: list[TermHit], excluded: list[TermHit]) -> list[TermHit]:
    """The hits that share no token with an exclusion's match: in "Indian Ocean", "Indian" is no keyword."""
    if not excluded:
        return hits
    masked = {t for hit in excluded for t in range(hit.first_token, hit.last_token + 1)}
    return [hit for hit in hits if not any(t in masked for t in range(hit.first_token, hit.last_token + 1))]


# --- text that XML can carry ----------------------------------------------------------------------------

# What XML 1.0 forbids (C0 controls but tab and line breaks, lone surrogates, U+FFFE/U+FFFF), and C1
# controls and DEL, which terminals read as commands: feed text may hold any of them (JSON Feed allows
# U+0001), while Atom and HTML output cannot, and one such character must not break a whole digest.
_UNPRINTABLE = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def xml_safe(text: str) -> str:
    """``text`` with every character XML forbids, and every control character, replaced by U+FFFD."""
    return _UNPRINTABLE.sub("\ufffd", text)


def without_surrogates(text: str) -> str:
    """``text`` with lone surrogates (which no UTF-8 encoder writes) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def cleaned(value: Any, clean: Callable[[str], str] = xml_safe) -> Any:
    """``value`` (strings, and dicts, lists and tuples of them, keys too) with ``clean`` applied to every string."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {cleaned(k, clean): cleaned(v, clean) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
        return type(value)(*(cleaned(v, clean) for v in value))
    if isinstance(value, list | tuple):
        return type(value)(cleaned(v, clean) for v in value)
    return value


def xml_finalize(value: Any) -> Any:
    """A Jinja2 ``finalize``: every ``{{ value }}`` of a page goes out XML-safe, escaped markup kept as such."""
    if isinstance(value, Markup):
        return Markup(xml_safe(str(value)))
    return xml_safe(value) if isinstance(value, str) else value
