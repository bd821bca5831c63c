"""Loading the config: the file read once, the environment's overrides, and errors that say where.

``read_config`` is the one reader of the config file (the loader's and the editor's): its text and its
TOML, or a ConfigError naming the file, and the line of a TOML error (``read_config_text``, its first half,
gives the text alone). ``config_from_dict`` validates the
table with the NEWS_MONITOR_<SECTION>_<KEY> overrides of the environment; each problem becomes one line,
``FILE:LINE: key.path: problem`` (``env NEWS_MONITOR_WEB_PORT: web.port: ...`` for an override), in the
order of the file, with "did you mean" for an unknown key.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from monitor.config.lines import line_of, suggest, toml_error_line
from monitor.config.model import Config
from monitor.errors import ConfigError, InvalidConfig

DEFAULT_CONFIG_PATH = Path("config/monitor.toml")


def resolve_config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The config file a command uses: ``path``, else env NEWS_MONITOR_CONFIG, else the default."""
    return Path(path or os.environ.get("NEWS_MONITOR_CONFIG") or DEFAULT_CONFIG_PATH)


def read_config_text(path: Path) -> str:
    """The config file's text; ConfigError when it is missing, unreadable or not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from exc


def read_config(path: Path) -> tuple[str, dict[str, Any]]:
    """The config file's text and its TOML table; ConfigError when it cannot be read, or is not TOML (then
    with the line: ``monitor.toml:3: invalid TOML: Invalid value (column 14)``)."""
    text = read_config_text(path)
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, what = toml_error_line(text, str(exc))
        raise ConfigError(f"{path}{f':{line}' if line else ''}: invalid TOML: {what}") from exc


def load_config(path: str | os.PathLike[str] | None = None, *, database_url: str | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file: the defaults, then the file, then the environment's NEWS_MONITOR_*
    overrides, then ``database_url`` (from the CLI or env NEWS_MONITOR_DATABASE_URL) for storage.url."""
    config_path = resolve_config_path(path)
    text, raw = read_config(config_path)
    return config_from_dict(raw, source=config_path.resolve(), database_url=database_url, text=text, env=env)


# --- located errors -----------------------------------------------------------------------------------------


def _is_union_label(part: Any) -> bool:
    return part in ("function-after[_one_operator(), Rule]", "str", "Rule") or "[" in str(part)


def _clean_loc(raw: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """The key path of an error as the file spells it: pydantic's union branch labels left out, and so is the
    tag of a discriminated union (a channel's ``email`` in ``digest.channels.0.email.smtp_host``)."""
    node, out = raw, []
    for part in loc:
        if _is_union_label(part):
            continue
        if isinstance(part, str) and isinstance(node, dict) and part not in node and node.get("type") == part:
            continue
        out.append(part)
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return tuple(out)


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(error: dict[str, Any], loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        key = loc[-1]
        return f"unknown key {key!r}{suggest(str(key), _fields_at(loc[:-1], raw))}"
    return error["msg"].removeprefix("Value error, ")


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation may hold: ``Rule`` in ``str | Rule | None``, each channel type in ``list[Channel]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in getattr(annotation, "__args__", ()) for model in _models_in(arg)]


def _fields_at(loc: tuple[Any, ...], raw: Any) -> list[str]:
    """The keys the table at ``loc`` (a cleaned key path) may have, for "did you mean"."""
    models: list[type[BaseModel]] = [Config]
    node = raw
    for part in loc:
        node = (node[part] if isinstance(node, list) and 0 <= part < len(node) else None) if isinstance(part, int) \
            else (node.get(part) if isinstance(node, dict) else None)
        if isinstance(part, int):
            continue
        field = next((f for m in models for name, f in m.model_fields.items() if part in (name, f.alias)), None)
        if field is None:
            return []
        models = _models_in(field.annotation)
    if len(models) > 1 and isinstance(node, dict):  # a discriminated union: the member its "type" names
        models = [m for m in models if "type" in m.model_fields
                  and node.get("type") in getattr(m.model_fields["type"].annotation, "__args__", ())] or models
    names = [f.alias or name for m in models for name, f in m.model_fields.items() if not f.exclude]
    return list(dict.fromkeys(names))


def config_errors(error: ConfigError) -> list[str]:
    """Each problem of a config error, one line each."""
    return list(getattr(error, "errors", None) or [str(error)])


# --- environment overrides: NEWS_MONITOR_<SECTION>_<KEY> ---------------------------------------------------

ENV_PREFIX = "NEWS_MONITOR_"
ENV_SECTIONS = ("storage", "network", "scheduler", "extract", "digest", "web")
# Variables of the program itself, not settings.
ENV_NOT_OVERRIDES = {"CONFIG", "DEBUG", "AUTO_MIGRATE", "TEST_DATABASE_URL", "SHARED", "DATABASE_URL"}


def _env_value(text: str) -> Any:
    """A TOML value when the text is one (``8``, ``true``, ``"x"``, ``["a"]``), else the text as a string."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    return text if isinstance(value, dt.date | dt.time) else value


def _named_by_env_keys(raw: Any) -> set[str]:
    """Variables the config names as the place of a secret (``token_env = "..."``): they are not overrides."""
    if isinstance(raw, dict):
        names = {v for k, v in raw.items() if isinstance(k, str) and k.endswith("_env") and isinstance(v, str)}
        return names.union(*(_named_by_env_keys(v) for v in raw.values()))
    if isinstance(raw, list):
        return set().union(*(_named_by_env_keys(v) for v in raw))
    return set()


def env_overrides(raw: dict[str, Any], env: Mapping[str, str] | None = None) -> dict[tuple[str, str], tuple[str, Any]]:
    """The overrides the environment sets: ``(section, key) -> (variable, value)``.

    ``NEWS_MONITOR_NETWORK_TOTAL_TIMEOUT=30s`` sets ``[network] total_timeout``. Variables of other sections, of
    the program itself (NEWS_MONITOR_CONFIG...) and those a ``*_env`` key names are not overrides.
    """
    env = os.environ if env is None else env
    secrets = _named_by_env_keys(raw)
    found: dict[tuple[str, str], tuple[str, Any]] = {}
    for variable in sorted(env):
        rest = variable[len(ENV_PREFIX):] if variable.startswith(ENV_PREFIX) else None
        if not rest or rest in ENV_NOT_OVERRIDES or variable in secrets:
            continue
        section = next((s for s in ENV_SECTIONS if rest.lower().startswith(f"{s}_")), None)
        if section is None or len(rest) == len(section) + 1:
            continue
        found[(section, rest[len(section) + 1:].lower())] = (variable, _env_value(env[variable]))
    return found


def _with_overrides(raw: dict[str, Any], overrides: dict[tuple[str, str], tuple[str, Any]]) -> dict[str, Any]:
    merged = dict(raw)
    for (section, key), (_, value) in overrides.items():
        table = merged.get(section, {})
        if isinstance(table, dict):
            merged[section] = {**table, key: value}
    return merged


# --- validation ---------------------------------------------------------------------------------------------


def _named(raw: dict[str, Any], path: str, loc: tuple[Any, ...]) -> str:
    """The key path, with the topic's id when it is inside one: "topics[0] ('india-russia').rule"."""
    topics = raw.get("topics")
    if len(loc) > 1 and loc[0] == "topics" and isinstance(loc[1], int) and isinstance(topics, list) \
            and loc[1] < len(topics) and isinstance(topics[loc[1]], dict) and isinstance(topics[loc[1]].get("id"), str):
        prefix = f"topics[{loc[1]}]"
        return f"{prefix} ({topics[loc[1]]['id']!r}){path[len(prefix):]}"
    return path


def config_from_dict(raw: dict[str, Any], *, source: Path | None = None, database_url: str | None = None,
                     text: str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Validate ``raw`` (a parsed config file) with the environment's overrides. ``text``, the file's text, lets
    an error name the line of its key; without it errors name the file and the key path only."""
    name = str(source) if source else "<config>"
    overrides = env_overrides(raw, env)
    raw = _with_overrides(raw, overrides)
    database_url = database_url or (os.environ if env is None else env).get("NEWS_MONITOR_DATABASE_URL")
    if database_url:
        raw = {**raw, "storage": {**(raw.get("storage") or {}), "url": database_url}}

    def where(loc: tuple[Any, ...]) -> tuple[str, int]:
        """Where a key's value comes from, and the line for sorting (0 for none)."""
        if loc[:2] in overrides:
            return f"env {overrides[loc[:2]][0]}", 0  # type: ignore[index]
        line = line_of(text, loc) if text is not None else None
        return (f"{name}:{line}", line) if line else (name, 0)

    try:
        config = Config.model_validate({**raw, "source": source})
    except ValidationError as exc:
        messages: dict[str, tuple[int, str]] = {}
        for error in exc.errors():
            # A rule is a group name or a table: for a table, the "not a string" error of the name branch is noise.
            if error["type"] == "string_type" and isinstance(error["input"], dict):
                continue
            loc = _clean_loc(raw, (*error["loc"], *(error["ctx"]["key"] if error["type"] == "config_error" else ())))
            path = _named(raw, _key_path(loc), loc)
            place, line = where(loc)
            messages.setdefault(path, (line, f"{place}: {path}: {_describe(error, loc, raw)}"))
        # In the order of the file (the environment's first): the message is the first problem.
        ordered = [message for _, message in sorted(messages.values(), key=lambda item: item[0])]
        raise InvalidConfig(ordered or [f"{name}: {exc}"]) from exc
    problems = []
    for index, topic in enumerate(config.topics):
        for number, pattern in enumerate(topic.reference_documents):
            full = pattern if os.path.isabs(pattern) else str(config.base_dir / pattern)
            if not glob.glob(full, recursive=True):
                loc = ("topics", index, "reference_documents", number)
                problems.append(f"{where(loc)[0]}: topics[{index}] ({topic.id!r}).reference_documents: {pattern!r} "
                                "matches no file")
    if problems:
        raise InvalidConfig(problems)
    return config
