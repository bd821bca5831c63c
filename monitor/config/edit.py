"""Edits of the user's config file that keep their comments and layout.

Every edit goes the same way: read the file, change the TOML document (tomlkit keeps comments, order and
spacing), validate the result exactly as the daemon will read it (tomllib, then ``config_from_dict`` with
the file as its source, so reference-document globs resolve relative to it), and only then replace the
file atomically (a temporary file in the same folder, then ``os.replace``). An edit that would make the
config invalid raises the ConfigError that says why, and the file is left byte for byte as it was.

``edit_config`` is the base for edits of the document in place (keywords); ``add_feeds`` appends new
``[[feeds]]`` tables at the end of the file, after everything already there; ``remove_feed`` cuts a feed's
table out by lines, so the comments around it stay with what they describe.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import tomllib
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT, Array

from monitor.config.lines import line_of, suggest
from monitor.config.load import config_from_dict, read_config, read_config_text, resolve_config_path
from monitor.config.model import Config
from monitor.errors import ConfigError

T = TypeVar("T")

MAX_NAME_LENGTH = 64
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def edit_config(path: str | os.PathLike[str] | None, edit: Callable[[tomlkit.TOMLDocument], T], *,
                dry_run: bool = False) -> T:
    """Apply ``edit`` to the config's TOML document; write the result if it is a valid config.

    ``edit`` changes the document in place and returns what the caller wants back. With ``dry_run`` the
    result is validated the same way and nothing is written.
    """
    config_path = resolve_config_path(path)
    text, document = _open(config_path)
    result = edit(document)
    _commit(config_path, text, document.as_string(), dry_run=dry_run)
    return result


def add_feeds(path: str | os.PathLike[str] | None, feeds: list[dict[str, Any]], *,
              dry_run: bool = False) -> list[str]:
    """Add ``[[feeds]]`` tables at the end of the config; return their names, in order.

    Each dict has a ``url``, and either a ``name`` (kept as given) or a ``title`` from which a unique name
    is derived (see ``feed_name``); other keys (``interval``, ``fetch_full_text``) go into the table as they
    are. The text already in the file is kept unchanged in front of the new tables. Nothing is written if
    the result is not a valid config, or with ``dry_run``.
    """
    config_path = resolve_config_path(path)
    text, document = _open(config_path)
    if not feeds:
        return []
    existing = document.get("feeds")
    taken = {str(f["name"]) for f in existing or [] if isinstance(f, dict) and "name" in f}
    tables: list[dict[str, Any]] = []
    for feed in feeds:
        rest = {k: v for k, v in feed.items() if k not in ("name", "title", "url")}
        name = feed.get("name") or feed_name(feed.get("title") or "", feed["url"], taken)
        taken.add(name)
        tables.append({"name": name, "url": feed["url"], **rest})

    if isinstance(existing, Array):
        # feeds = [{...}, ...] written inline: a [[feeds]] table after it would be a TOML error, so the new
        # feeds join that array instead.
        for table in tables:
            inline = tomlkit.inline_table()
            inline.update(table)
            existing.append(inline)
        new_text = document.as_string()
    else:
        newline = "\r\n" if "\r\n" in text else "\n"
        snippet = "\n".join(tomlkit.dumps({"feeds": _aot(table)}) for table in tables).replace("\n", newline)
        new_text = text + _separator(text, newline) + snippet
    _commit(config_path, text, new_text, dry_run=dry_run)
    return [table["name"] for table in tables]


def feed_name(title: str, url: str, taken: Iterable[str] = ()) -> str:
    """A feed name from a title: ASCII, lowercase, ``-`` separated, at most 64 characters, not in ``taken``.

    A title with no ASCII letters or digits (``ТАСС``) falls back to the URL's host; a name already taken
    gets ``-2``, ``-3``... (``Reuters World`` → ``reuters-world``, then ``reuters-world-2``).
    """
    taken = set(taken)
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    base = _slug(title) or _slug(host) or "feed"
    name, number = base, 1
    while name in taken:
        number += 1
        suffix = f"-{number}"
        name = base[:MAX_NAME_LENGTH - len(suffix)].rstrip("-") + suffix
    return name


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")[:MAX_NAME_LENGTH].rstrip("-")


def _aot(table: dict[str, Any]) -> AoT:
    array = tomlkit.aot()
    array.append(tomlkit.item(table))
    return array


def _separator(text: str, newline: str) -> str:
    """A blank line between the file's last line and the first new table."""
    if not text or text.endswith(newline * 2):
        return ""
    return newline if text.endswith(newline) else newline * 2


def _open(path: Path) -> tuple[str, tomlkit.TOMLDocument]:
    """The file's text, read as the loader reads it, and its document for editing."""
    text, _ = read_config(path)
    try:
        return text, tomlkit.parse(text)
    except tomlkit.exceptions.TOMLKitError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def _validate(text: str, path: Path) -> Config:
    """The config the daemon would load from ``text``: parsed by tomllib, as load_config does."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: the edit would make invalid TOML: {exc}") from exc
    return config_from_dict(raw, source=path.resolve())


def _commit(path: Path, old_text: str, new_text: str, *, dry_run: bool) -> None:
    try:
        _validate(new_text, path)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (edit refused: {path} not changed)") from exc
    if not dry_run and new_text != old_text:
        _write_atomic(path, new_text, old_text)


def _write_atomic(path: Path, text: str, expected: str) -> None:
    """Replace the file's content in one step: readers see the old file or the new one, never half of it."""
    target = Path(os.path.realpath(path))  # through a symlink: replace the file, keep the link
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
        handle = tempfile.NamedTemporaryFile("wb", dir=target.parent, prefix=f".{target.name}.", suffix=".tmp",
                                             delete=False)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write config file: {exc}") from exc
    temp = Path(handle.name)
    try:
        with handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        if read_config_text(target) != expected:
            raise ConfigError(f"{path}: the file changed while it was being edited; nothing written, try again")
        os.replace(temp, target)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write config file: {exc}") from exc
    finally:
        temp.unlink(missing_ok=True)


# --- keywords ---------------------------------------------------------------------------------------------


@dataclass
class KeywordEdit:
    """What ``add_keywords`` or ``remove_keywords`` did: the terms changed, and those left as they were
    (already present for an add, absent for a remove)."""

    topic: str
    group: str
    changed: list[str]
    unchanged: list[str]


def add_keywords(path: str | os.PathLike[str] | None, topic: str, group: str, terms: Iterable[str]) -> KeywordEdit:
    """Append ``terms`` to a topic's keyword group, keeping the file's comments and layout. A term the group
    already has (matching ignores case) is reported, not added twice."""
    terms = _clean_terms(terms)

    def edit(array: Array) -> KeywordEdit:
        present = {_fold(str(t)) for t in array}
        added, kept = [], []
        for term in terms:
            if _fold(term) in present:
                kept.append(term)
            else:
                array.append(term)
                present.add(_fold(term))
                added.append(term)
        return KeywordEdit(topic, group, added, kept)

    return _edit_keyword_group(path, topic, group, edit)


def remove_keywords(path: str | os.PathLike[str] | None, topic: str, group: str,
                    terms: Iterable[str]) -> KeywordEdit:
    """Remove ``terms`` from a topic's keyword group (an exact match first, else one that differs in case only),
    keeping the file's comments and layout. A term the group does not have is reported."""
    terms = _clean_terms(terms)

    def edit(array: Array) -> KeywordEdit:
        removed, absent = [], []
        for term in terms:
            values = [str(t) for t in array]
            index = values.index(term) if term in values else next(
                (i for i, v in enumerate(values) if _fold(v) == _fold(term)), None)
            if index is None:
                absent.append(term)
            else:
                removed.append(values[index])
                del array[index]
        return KeywordEdit(topic, group, removed, absent)

    return _edit_keyword_group(path, topic, group, edit)


def _edit_keyword_group(path: str | os.PathLike[str] | None, topic: str, group: str,
                        edit: Callable[[Array], KeywordEdit]) -> KeywordEdit:
    """Change one keyword array, and write only that array's text back in its place.

    tomlkit renders a document whose tables are split over the file (a ``[[feeds]]`` added after the
    ``[[topics]]``) in one piece once anything in it changed, which would move the user's tables around; so
    the new array's text is spliced into the old text, and the result is checked to be the edited document.
    """
    config_path = resolve_config_path(path)
    text, document = _open(config_path)
    index, array = _keyword_group(document, topic, group)
    before = array.as_string()
    result = edit(array)
    if result.changed:
        _commit(config_path, text, _splice(text, ("topics", index, "keywords", group), before, array.as_string(),
                                           document), dry_run=False)
    return result


def _splice(text: str, loc: tuple[str | int, ...], old: str, new: str, document: tomlkit.TOMLDocument) -> str:
    line = line_of(text, loc)
    if line is not None:
        offset = sum(len(row) for row in text.splitlines(keepends=True)[:line - 1])
        found = text.find(old, offset)
        if found >= 0:
            spliced = text[:found] + new + text[found + len(old):]
            if _loads_or_none(spliced) == document.unwrap():
                return spliced
    return document.as_string()


def _fold(term: str) -> str:
    return " ".join(term.split()).casefold()


def _clean_terms(terms: Iterable[str]) -> list[str]:
    out = list(dict.fromkeys(t.strip() for t in terms if t.strip()))
    if not out:
        raise ConfigError("no term given")
    return out


def _keyword_group(document: tomlkit.TOMLDocument, topic: str, group: str) -> tuple[int, Array]:
    """The topic's index and the array of its keyword group."""
    topics = document.get("topics") or []
    ids = [str(t.get("id")) for t in topics if isinstance(t, dict)]
    index = next((i for i, t in enumerate(topics) if isinstance(t, dict) and t.get("id") == topic), None)
    if index is None:
        raise ConfigError(f"no topic {topic!r}{suggest(topic, ids)} (topics: {', '.join(ids) or 'none'})")
    groups = topics[index].get("keywords")
    if not isinstance(groups, dict) or group not in groups:
        names = list(groups or {})
        raise ConfigError(f"topic {topic!r} has no keyword group {group!r}{suggest(group, names)} "
                          f"(groups: {', '.join(names) or 'none'})")
    array = groups[group]
    if not isinstance(array, Array):
        raise ConfigError(f"topic {topic!r}: keyword group {group!r} is not a list in the file")
    return index, array


# --- feeds ------------------------------------------------------------------------------------------------


def add_feed(path: str | os.PathLike[str] | None, url: str, *, name: str | None = None,
             interval: str | None = None) -> str:
    """Add one feed at the end of the config; return its name (from the URL's host when not given).

    A URL already configured (compared canonically) or a name already taken is refused.
    """
    from monitor.events.keys import canonical_url

    config_path = resolve_config_path(path)
    _, document = _open(config_path)
    feeds = [f for f in document.get("feeds") or [] if isinstance(f, dict)]
    key = canonical_url(url)
    for feed in feeds:
        if isinstance(feed.get("url"), str) and canonical_url(str(feed["url"])) == key:
            raise ConfigError(f"{url}: already configured as feed {str(feed.get('name'))!r}")
        if name is not None and feed.get("name") == name.strip():
            raise ConfigError(f"feed name {name.strip()!r} is taken (by {feed.get('url')})")
    table: dict[str, Any] = {"url": url.strip()}
    if name is not None:
        table["name"] = name.strip()
    else:
        table["title"] = ""  # feed_name falls back to the host
    if interval is not None:
        table["interval"] = interval
    return add_feeds(config_path, [table])[0]


def remove_feed(path: str | os.PathLike[str] | None, name: str) -> str:
    """Remove the feed named ``name``; return its URL. Its table goes with the comment lines right above its
    header; a comment block before the next table stays with that table."""
    config_path = resolve_config_path(path)
    text, document = _open(config_path)
    feeds = document.get("feeds")
    names = [str(f.get("name")) for f in feeds or [] if isinstance(f, dict)]
    if name not in names:
        raise ConfigError(f"no feed named {name!r}{suggest(name, names)}")
    index = names.index(name)
    url = str(feeds[index].get("url"))
    new_text = _without_table(text, ("feeds", index)) if isinstance(feeds, AoT) else None
    expected = tomllib.loads(text)
    del expected["feeds"][index]
    if new_text is None or _loads_or_none(new_text) != expected:
        del feeds[index]  # an inline array, or a layout the line-based cut does not handle: tomlkit's own way
        new_text = document.as_string()
    _commit(config_path, text, new_text, dry_run=False)
    return url


_HEADER = re.compile(r"^\s*\[\[?[^\[\],=]+\]\]?\s*(#.*)?$")
_COMMENT_OR_BLANK = re.compile(r"^\s*(#.*)?$")


def _without_table(text: str, loc: tuple[str | int, ...]) -> str | None:
    """``text`` without the table at ``loc``, cut by lines: from the comments right above its header to the
    next header, less the comment block that introduces that next one."""
    start = line_of(text, loc)
    if start is None:
        return None
    lines = text.splitlines(keepends=True)
    first = start - 1
    end = next((i for i in range(first + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))
    tail = end
    while tail > first + 1 and _COMMENT_OR_BLANK.match(lines[tail - 1]):
        tail -= 1
    while first > 0 and lines[first - 1].lstrip().startswith("#"):
        first -= 1
    # One blank line separated the table from what came before: it goes too when a blank line (or the end of
    # the file) follows, so "add then remove" gives back the same bytes.
    if first > 0 and not lines[first - 1].strip() and (tail == len(lines) or not lines[tail].strip()):
        first -= 1
    return "".join(lines[:first] + lines[tail:])


def _loads_or_none(text: str) -> dict[str, Any] | None:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def feed_table(config: Config) -> list[dict[str, Any]]:
    """The configured feeds as rows for ``feeds list``."""
    return [{"name": f.name, "url": f.url, "interval": f.interval, "fetch_full_text": f.fetch_full_text}
            for f in config.feeds]


def keyword_table(config: Config, topic: str | None = None) -> dict[str, dict[str, list[str]]]:
    """Each topic's keyword groups (one topic's with ``topic``), for ``keywords list``."""
    ids = [t.id for t in config.topics]
    if topic is not None and topic not in ids:
        raise ConfigError(f"no topic {topic!r}{suggest(topic, ids)} (topics: {', '.join(ids) or 'none'})")
    return {t.id: dict(t.keywords) for t in config.topics if topic in (None, t.id)}
