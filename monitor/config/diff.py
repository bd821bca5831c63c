"""The config as data: a snapshot with its secrets redacted, its version, and the difference between two.

A ``ConfigChanged`` event carries the snapshot of the config it puts in force, so the next change is diffed
against what the log says was in force, whichever process recorded it. The version is a short hash of the
snapshot: a change of a secret alone (a token, a password) is not a new version, and neither is a change of
comments or layout.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from monitor.config.model import Config

REDACTED = "***"
# Settings read once at start: a change is recorded, and takes effect after a restart.
RESTART_REQUIRED = ("storage", "network", "web", "extract", "scheduler.max_workers", "scheduler.max_per_host")
# Keys of a topic that do not decide its tags: a change of them alone needs no retag.
_NOT_TAGGING = {"title", "retag_on_change"}


def snapshot(config: Config) -> dict[str, Any]:
    """The resolved config as JSON data, secrets replaced by "***" (unset values left out)."""
    data = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    if data.get("web", {}).get("token"):
        data["web"]["token"] = REDACTED
    for channel in data.get("digest", {}).get("channels", []):
        for key in ("password", "secret"):
            if channel.get(key):
                channel[key] = REDACTED
        if channel.get("type") == "apprise" and channel.get("url"):
            channel["url"] = REDACTED  # an Apprise URL usually holds its service's token
    storage = data.get("storage", {})
    if storage.get("url"):
        storage["url"] = _hide_password(storage["url"])
    return data


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return url
    return parsed.render_as_string(hide_password=True) if parsed.password else url


def config_version(config_or_snapshot: Config | dict[str, Any]) -> str:
    """A short hash of the resolved config (secrets and the file's location left out)."""
    data = snapshot(config_or_snapshot) if isinstance(config_or_snapshot, Config) else config_or_snapshot
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def _changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    flat_old, flat_new = _flatten(old), _flatten(new)
    return {key: {"old": flat_old.get(key), "new": flat_new.get(key)}
            for key in sorted(flat_old.keys() | flat_new.keys()) if flat_old.get(key) != flat_new.get(key)}


def needs_restart(key: str) -> bool:
    return any(key == prefix or key.startswith(f"{prefix}.") for prefix in RESTART_REQUIRED)


def diff_configs(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """What changed from snapshot ``old`` to snapshot ``new`` (``{}``: nothing was in force), and the same as
    readable lines: per topic the keywords added or removed per group and its other keys; feeds added,
    removed or changed (which keys, old → new); other settings; and which of them need a restart."""
    diff: dict[str, Any] = {}
    summary: list[str] = []

    topics = _diff_topics(old.get("topics", []), new.get("topics", []), summary)
    if topics:
        diff["topics"] = topics
    feeds = _diff_feeds(old.get("feeds", []), new.get("feeds", []), summary)
    if feeds:
        diff["feeds"] = feeds

    settings = _changed({k: v for k, v in old.items() if k not in ("feeds", "topics")},
                        {k: v for k, v in new.items() if k not in ("feeds", "topics")})
    if settings:
        diff["settings"] = settings
        restart = [key for key in settings if needs_restart(key)]
        if restart and old:
            diff["restart_required"] = restart
        for key, change in settings.items():
            note = " (takes effect after a restart)" if key in diff.get("restart_required", []) else ""
            if change["old"] is None:
                summary.append(f"setting {key} = {_show(change['new'])}")
            else:
                summary.append(f"setting {key}: {_show(change['old'])} → {_show(change['new'])}{note}")
    return diff, summary


def _diff_topics(old: list[dict[str, Any]], new: list[dict[str, Any]], summary: list[str]) -> dict[str, Any]:
    before, after = {t["id"]: t for t in old}, {t["id"]: t for t in new}
    out: dict[str, Any] = {}
    added = [tid for tid in after if tid not in before]
    removed = [tid for tid in before if tid not in after]
    for tid in added:
        summary.append(f"topic added: {tid} ({after[tid].get('title', '')}), "
                       f"{len(after[tid].get('keywords', {}))} keyword group(s)")
    for tid in removed:
        summary.append(f"topic removed: {tid}")
    changed: dict[str, Any] = {}
    for tid in after:
        if tid not in before or before[tid] == after[tid]:
            continue
        entry: dict[str, Any] = {}
        keywords = _diff_keywords(before[tid].get("keywords", {}), after[tid].get("keywords", {}), tid, summary)
        if keywords:
            entry["keywords"] = keywords
        others = _changed({k: v for k, v in before[tid].items() if k != "keywords"},
                          {k: v for k, v in after[tid].items() if k != "keywords"})
        if others:
            entry["settings"] = others
            for key, change in others.items():
                if key.startswith(("rule", "context_rule")):
                    continue
                summary.append(f"topic {tid}: {key} {_show(change['old'])} → {_show(change['new'])}")
            for rule in ("rule", "context_rule"):
                if any(key == rule or key.startswith(f"{rule}.") for key in others):
                    summary.append(f"topic {tid}: {rule.replace('_', ' ')} changed")
        changed[tid] = entry
    out.update(_present(added=added, removed=removed, changed=changed))
    return out


def _diff_keywords(old: dict[str, list[str]], new: dict[str, list[str]], tid: str,
                   summary: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # In the order of the new file (a snapshot read back from PostgreSQL's JSONB has its keys reordered).
    for group in list(new) + [g for g in old if g not in new]:
        terms_old, terms_new = old.get(group), new.get(group)
        if terms_old == terms_new:
            continue
        entry: dict[str, Any] = {}
        if terms_old is None:
            entry["group"] = "added"
        elif terms_new is None:
            entry["group"] = "removed"
        plus = [t for t in terms_new or [] if t not in (terms_old or [])]
        minus = [t for t in terms_old or [] if t not in (terms_new or [])]
        if plus:
            entry["added"] = plus
        if minus:
            entry["removed"] = minus
        if not (plus or minus or "group" in entry):
            entry["reordered"] = True
        out[group] = entry
        if "group" in entry:
            summary.append(f"topic {tid}: keyword group {group} {entry['group']}: "
                           + ", ".join(repr(t) for t in (plus or minus)))
            continue
        changes = [f"+ {t!r}" for t in plus] + [f"- {t!r}" for t in minus] or ["reordered"]
        summary.append(f"topic {tid}: keyword group {group} {', '.join(changes)}")
    return out


def _diff_feeds(old: list[dict[str, Any]], new: list[dict[str, Any]], summary: list[str]) -> dict[str, Any]:
    before, after = {f["name"]: f for f in old}, {f["name"]: f for f in new}
    out: dict[str, Any] = {}
    added = [after[name] for name in after if name not in before]
    removed = [before[name] for name in before if name not in after]
    changed = {name: _changed(before[name], after[name]) for name in after
               if name in before and before[name] != after[name]}
    for feed in added:
        summary.append(f"feed added: {feed['name']} ({feed['url']})")
    for feed in removed:
        summary.append(f"feed removed: {feed['name']} ({feed['url']})")
    for name, keys in changed.items():
        summary.append(f"feed changed: {name}: " + ", ".join(
            f"{key} {_show(change['old'])} → {_show(change['new'])}" for key, change in keys.items()))
    out.update(_present(added=added, removed=removed, changed=changed))
    return out


def topics_to_retag(diff: dict[str, Any]) -> list[str]:
    """The topics whose tags may differ after this change: added ones, and those whose keywords, rules or other
    tagging keys changed (not a mere title)."""
    topics = diff.get("topics", {})
    out = list(topics.get("added", []))
    for tid, entry in topics.get("changed", {}).items():
        keys = {key.split(".")[0] for key in entry.get("settings", {})}
        if entry.get("keywords") or keys - _NOT_TAGGING:
            out.append(tid)
    return out


def feed_changes(old: Config, new: Config) -> tuple[list[str], list[str], list[str]]:
    """Feeds added, removed, and rescheduled (url or interval changed) from config ``old`` to ``new``."""
    before, after = {f.name: f for f in old.feeds}, {f.name: f for f in new.feeds}
    added = [name for name in after if name not in before]
    removed = [name for name in before if name not in after]
    moved = [name for name in after if name in before
             and (before[name].url, before[name].interval) != (after[name].url, after[name].interval)]
    return added, removed, moved


def resolved_text(config: Config, format: str = "toml", *, overrides: list[str] = ()) -> str:
    """The resolved config (defaults, then the file, then the environment), secrets shown as "***": what
    ``news-monitor config check`` prints. ``overrides`` names the variables that set a value."""
    import tomlkit

    data = snapshot(config)
    if format == "json":
        return json.dumps({"source": str(config.source) if config.source else None, "version": config_version(data),
                           "config": data}, indent=2, ensure_ascii=False) + "\n"
    head = [f"# resolved config from {config.source or '(no file)'}, version {config_version(data)}",
            "# durations in seconds, sizes in bytes; unset values are left out"]
    head += [f"# set by the environment: {name}" for name in overrides]
    return "\n".join(head) + "\n\n" + tomlkit.dumps(data)


def _present(**parts: Any) -> dict[str, Any]:
    """The parts that hold something: an empty list of added feeds is left out of the diff."""
    return {name: value for name, value in parts.items() if value}
