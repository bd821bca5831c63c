"""Text normalisation, tokens with offsets, sentence splitting and keyword terms.

Normalisation folds what should not matter when matching a watch keyword:
- case and diacritics ("Lavróv" = "lavrov");
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

_WORD = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)
_POSSESSIVE = re.compile(r"['’]s?$")
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "gen", "sen", "rep", "gov", "lt", "col", "capt", "prof", "jr", "sr",
    "u.s", "u.k", "u.n", "e.g", "i.e", "vs", "no", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "inc", "ltd", "co", "corp", "approx", "est", "fig", "p.m", "a.m",
}
# A sentence ends at . ! ? (plus up to two closing quotes/brackets, which stay in the sentence) followed
# by space and an opening capital, digit or quote; or at a line break.
_BOUNDARY = re.compile(
    r"(?:(?<=[.!?])|(?<=[.!?][\"'”’)\]])|(?<=[.!?][\"'”’)\]]{2}))\s+(?=[\"'“‘(\[]?[A-Z0-9])|\s*\n+\s*"
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
        if ch.isascii():
            folded = ch.lower()
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
            out.append(Token(word, start, match.end()))
            continue
        for part in _POSSESSIVE.sub("", word).replace("’", "'").split("'"):
            if part:
                out.append(Token(part, start, start + len(part)))
            start += len(part) + 1  # the part and the apostrophe after it
    return out


def sentences(text: str) -> list[Span]:
    """Split prose into sentences with character offsets, leaving common abbreviations whole."""
    spans: list[Span] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        candidate = text[start:match.start()]
        last_word = candidate.rsplit(None, 1)[-1].rstrip(".").lower() if candidate.strip() else ""
        if "\n" not in match.group() and (last_word in _ABBREVIATIONS or len(last_word) == 1):
            continue  # "Mr. Putin", "U.S. President", "S. Jaishankar": not a boundary
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
    """One configured keyword, compiled: ``words`` are normalised tokens (or GAP), ``prefix[i]`` marks a ``*``."""

    group: str
    label: str
    words: tuple[str, ...]
    prefix: tuple[bool, ...]

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
        if not (norm.startswith(self.words[w]) if self.prefix[w] else norm == self.words[w]):
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
        for term in terms:
            if not term.prefix[0]:
                self.exact.setdefault(term.words[0], []).append(term)
        for bucket in self.exact.values():
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
