"""Edits of the user's config file that keep their comments and layout.

Every edit goes the same way: read the file, change the TOML document (tomlkit keeps comments, order and
spacing), validate the result exactly as the daemon will read it (tomllib, then ``config_from_dict`` with
the file as its source, so reference-document globs resolve relative to it), and only then replace the
file atomically (a temporary file in the same folder, then ``os.replace``). An edit that would make the
config invalid raises the ConfigError that says why, and the file is left byte for byte as it was.

``edit_config`` is the base for edits of the document in place (keywords, removing a feed);
``add_feeds`` appends new ``[[feeds]]`` tables at the end of the file, after everything already there.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import tomllib
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT, Array

from monitor.config import DEFAULT_CONFIG_PATH, Config, config_from_dict
from monitor.errors import ConfigError

T = TypeVar("T")

MAX_NAME_LENGTH = 64
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def resolve_config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The config file a command uses: ``path``, else env NEWS_MONITOR_CONFIG, else the default (as load_config)."""
    return Path(path or os.environ.get("NEWS_MONITOR_CONFIG") or DEFAULT_CONFIG_PATH)


def edit_config(path: str | os.PathLike[str] | None, edit: Callable[[tomlkit.TOMLDocument], T], *,
                dry_run: bool = False) -> T:
    """Apply ``edit`` to the config's TOML document; write the result if it is a valid config.

    ``edit`` changes the document in place and returns what the caller wants back. With ``dry_run`` the
    result is validated the same way and nothing is written.
    """
    config_path = resolve_config_path(path)
    text = _read(config_path)
    document = _parse(text, config_path)
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
    text = _read(config_path)
    document = _parse(text, config_path)
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


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from exc


def _parse(text: str, path: Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
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
        if _read(target) != expected:
            raise ConfigError(f"{path}: the file changed while it was being edited; nothing written, try again")
        os.replace(temp, target)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write config file: {exc}") from exc
    finally:
        temp.unlink(missing_ok=True)
