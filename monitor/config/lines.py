"""The parts of a config error message: where a key is in the file (the line an error points at), and
"did you mean".

Tables are found by their headers: a scan of the text that knows strings, comments and brackets lists every
``[table]`` and ``[[array of tables]]`` header with its line, and numbers the arrays' tables as TOML does
(``[[feeds]]`` is ``feeds[0]``, then ``feeds[1]``; ``[topics.keywords]`` belongs to the last ``[[topics]]``).

Values are found with tomlkit, which keeps a document's text exactly: in a copy of the document the value (a
key's value, an array element, an inline table) is replaced by a unique sentinel string, and the sentinel's
line in the copy's text is the value's line. tomlkit renders a document whose tables are split over the
file (a ``[[feeds]]`` after the ``[[topics]]``) in one piece once it changed, so a mark counts only when
every other line stayed where it was; else the key is looked for below its table's header.

A key that is not in the file (a required key left out) is placed at its nearest parent that is: the header
of its table, or the key of its inline table. Only used on the way to an error message, like ``suggest``,
the "did you mean" of a misspelt key, name or id.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Sequence
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT, Array, InlineTable, Table
from tomlkit.toml_document import TOMLDocument

_SENTINEL = "__news_monitor_line_9f3c2e__"
_TOML_POSITION = re.compile(r"^(?P<what>.*?)\s*\(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of "
                            r"document)\)\s*$", re.DOTALL)

Key = str | int


def suggest(word: str, choices: Any) -> str:
    """`` (did you mean 'russia_side'?)`` when one of ``choices`` is close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def line_of(text: str, loc: Sequence[Key]) -> int | None:
    """The 1-based line of ``loc`` (``("topics", 0, "keywords", "russia_side", 3)``) in ``text``, or of its
    nearest parent in the file; None for the top level or a text tomlkit cannot read."""
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.TOMLKitError:
        return None
    found = _existing_prefix(document, loc)
    headers = table_headers(text)
    while found:
        line = headers.get(found) or _mark(text, found)
        if line is None and isinstance(found[-1], str) and found[:-1] in headers:
            line = _key_after_header(text, headers[found[:-1]], found[-1])
        if line is not None:
            return line
        found = found[:-1]  # an implicit table ([a.b] without [a]) has no header of its own
    return None


def table_headers(text: str) -> dict[tuple[Key, ...], int]:
    """The line of every table header, by the table's key path: ``[[feeds]]`` gives ``("feeds", 0)``,
    ``("feeds", 1)``..., ``[topics.keywords]`` after the first ``[[topics]]`` gives ``("topics", 0, "keywords")``.
    Lines inside strings and multi-line arrays are skipped."""
    arrays: dict[tuple[Key, ...], int] = {}  # an array of tables' path -> its last index
    out: dict[tuple[Key, ...], int] = {}
    for number, header, is_array in _headers(text):
        path: list[Key] = []
        for part in header:
            path.append(part)
            if tuple(path) in arrays and (len(path) < len(header) or not is_array):
                path.append(arrays[tuple(path)])
        if is_array:
            key = tuple(path)
            arrays[key] = arrays.get(key, -1) + 1
            path.append(arrays[key])
        out[tuple(path)] = number
    return out


def _headers(text: str) -> list[tuple[int, list[str], bool]]:
    """(line, dotted key, is an array of tables) for each header, found by a scan that knows strings, comments
    and brackets, so a line of a multi-line array or string is never taken for a header."""
    found: list[tuple[int, list[str], bool]] = []
    depth, i, line, at_line_start = 0, 0, 1, True
    while i < len(text):
        char = text[i]
        if char == "\n":
            line, at_line_start = line + 1, True
            i += 1
            continue
        if char in " \t\r":
            i += 1
            continue
        if char == "#":
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
            continue
        if char in "\"'":
            quote = char * 3 if text.startswith(char * 3, i) else char
            end = i + len(quote)
            while True:
                end = text.find(quote, end)
                if end < 0:
                    return found
                if quote[0] == '"' and _escaped(text, end):
                    end += 1
                    continue
                break
            line += text.count("\n", i, end)
            i, at_line_start = end + len(quote), False
            continue
        if char == "[" and depth == 0 and at_line_start:
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            match = _HEADER.match(text[i:end])
            if match:
                found.append((line, _split_key(match.group("key")), match.group("open") == "[["))
                i += match.end()
                at_line_start = False
                continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(0, depth - 1)
        at_line_start = False
        i += 1
    return found


_BARE_OR_QUOTED = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_HEADER = re.compile(rf"(?P<open>\[\[?)\s*(?P<key>{_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*\]\]?")
_KEY_PART = re.compile(rf"\s*({_BARE_OR_QUOTED})\s*(?:\.|$)")


def _escaped(text: str, index: int) -> bool:
    slashes = 0
    while index - slashes - 1 >= 0 and text[index - slashes - 1] == "\\":
        slashes += 1
    return slashes % 2 == 1


def _split_key(key: str) -> list[str]:
    parts = []
    for match in _KEY_PART.finditer(key):
        part = match.group(1)
        if part[0] == '"':
            part = tomllib.loads(f"k = {part}")["k"]
        elif part[0] == "'":
            part = part[1:-1]
        parts.append(part)
    return parts


def toml_error_line(text: str, message: str) -> tuple[int | None, str]:
    """Split tomllib's "Invalid value (at line 3, column 14)" into (3, "Invalid value (column 14)")."""
    match = _TOML_POSITION.match(message)
    if not match:
        return None, message
    if match.group("line") is None:  # "at end of document"
        return max(1, len(text.splitlines())), f"{match.group('what')} (at the end of the file)"
    return int(match.group("line")), f"{match.group('what')} (column {match.group('column')})"


def _children(node: Any) -> Any:
    """The node when it holds keys or elements; None for a plain value."""
    return node if isinstance(node, TOMLDocument | Table | InlineTable | AoT | Array) else None


def _existing_prefix(document: TOMLDocument, loc: Sequence[Key]) -> tuple[Key, ...]:
    """The longest start of ``loc`` that names something in the document."""
    node: Any = document
    found: list[Key] = []
    for part in loc:
        children = _children(node)
        if children is None:
            break
        if isinstance(part, int):
            if not isinstance(children, AoT | Array) or not 0 <= part < len(children):
                break
        elif isinstance(children, AoT | Array) or part not in children:
            break
        node = children[part]
        found.append(part)
    return tuple(found)


def _mark(text: str, loc: tuple[Key, ...]) -> int | None:
    document = tomlkit.parse(text)
    parent: Any = document
    for part in loc[:-1]:
        parent = parent[part]
    target = parent[loc[-1]]
    try:
        if isinstance(target, Table):
            target.comment(_SENTINEL)  # on the header line: [network]  # sentinel
        elif isinstance(target, AoT):
            if not len(target):
                return None
            target[0].comment(_SENTINEL)
        else:
            parent[loc[-1]] = _SENTINEL
        marked = document.as_string()
    except (tomlkit.exceptions.TOMLKitError, TypeError, ValueError, KeyError, IndexError):
        return None
    index = marked.find(_SENTINEL)
    if index < 0:
        return None
    line = marked.count("\n", 0, index) + 1
    # tomlkit renders an edited table that is split over the file (a [[feeds]] after [[topics]]) in one
    # piece: the mark counts only where every other line stayed in place.
    before, after = text.splitlines(), marked.splitlines()
    if len(before) != len(after) or any(a != b for n, (a, b) in enumerate(zip(before, after, strict=True), 1)
                                         if n != line):
        return None
    return line


def _key_after_header(text: str, header: int, key: str) -> int | None:
    """The line of ``key = ...`` in the table whose header is on line ``header``."""
    pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*=")
    for number, line in enumerate(text.splitlines()[header:], header + 1):
        if _HEADER.match(line.lstrip()):
            return None
        if pattern.match(line):
            return number
    return None
