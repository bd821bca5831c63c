"""The groups that read and edit the config file: ``keywords`` (the topics' keyword groups: ``list``, ``add``,
``remove``) and ``config`` (``check``: validate it and print it resolved). Edits keep the file's comments and
layout."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.cli.common import TEXT_OR_JSON, Options, about, format_option, options

keywords_app = typer.Typer(no_args_is_help=True, help="The topics' keyword groups: list, add and remove terms.")


@keywords_app.command("list")
def keywords_list(
    ctx: typer.Context,
    topic: Annotated[str | None, typer.Option("--topic", help="Only this topic (its id).")] = None,
    format: Annotated[str, format_option(TEXT_OR_JSON, "text or json.")] = "text",
) -> None:
    """List each topic's keyword groups and their terms.

    Example: news-monitor keywords list --topic india-russia-summit
    """
    from monitor.config.edit import keyword_table

    config = options(ctx).config()
    with about("--topic"):
        table = keyword_table(config, topic)
    if format == "json":
        print(json.dumps(table, ensure_ascii=False))
        return
    for topic_id, groups in table.items():
        print(topic_id)
        for group, terms in groups.items():
            print(f"  {group} ({len(terms)}): {', '.join(terms)}")


def _print_keyword_edit(edit: Any, done: str, skipped: str) -> None:
    where = f"{edit.topic} {edit.group}"
    for term in edit.changed:
        print(f"{where}: {done} {term!r}")
    for term in edit.unchanged:
        print(f"{where}: {term!r} {skipped}, unchanged")
    if not edit.changed:
        print("nothing changed")


@keywords_app.command("add")
def keywords_add(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="The topic's id.")],
    group: Annotated[str, typer.Argument(help="The keyword group, e.g. russia_side.")],
    terms: Annotated[list[str], typer.Argument(help="The terms to add.")],
) -> None:
    """Add terms to a topic's keyword group, keeping the file's comments and layout.

    Example: news-monitor keywords add india-russia-summit russia_side Rosneft "Russian Deputy PM"
    """
    from monitor.config.edit import add_keywords

    _print_keyword_edit(add_keywords(options(ctx).config_path, topic, group, terms), "added", "already present")


@keywords_app.command("remove")
def keywords_remove(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="The topic's id.")],
    group: Annotated[str, typer.Argument(help="The keyword group, e.g. russia_side.")],
    terms: Annotated[list[str], typer.Argument(help="The terms to remove.")],
) -> None:
    """Remove terms from a topic's keyword group, keeping the file's comments and layout.

    Example: news-monitor keywords remove india-russia-summit russia_side Rosneft
    """
    from monitor.config.edit import remove_keywords

    _print_keyword_edit(remove_keywords(options(ctx).config_path, topic, group, terms), "removed", "not present")


config_app = typer.Typer(no_args_is_help=True, help="The configuration: check it and print it resolved.")


@config_app.command("check")
def config_check(
    ctx: typer.Context,
    format: Annotated[str, format_option(["toml", "json"], "toml or json.")] = "toml",
    file: Annotated[Path | None, typer.Option("--file", help="Check this file instead of --config.")] = None,
) -> None:
    """Validate the config; print it resolved (defaults, then the file, then NEWS_MONITOR_* overrides), or every
    error as a line FILE:LINE: KEY: PROBLEM on stderr with exit code 1.

    Example: news-monitor config check --format json
    """
    from monitor.config import config_errors, env_overrides
    from monitor.config.diff import resolved_text
    from monitor.errors import ConfigError

    given = options(ctx)
    try:
        config = Options(file, given.database_url, given.auto_migrate).config() if file else given.config()
    except ConfigError as exc:
        for line in config_errors(exc):
            print(line, file=sys.stderr)
        raise typer.Exit(1) from None
    overrides = [name for name, _ in env_overrides(config.model_dump(by_alias=True)).values()]
    text = resolved_text(config, format, overrides=overrides)
    languages = _term_languages(config)
    if format == "json":
        document = json.loads(text)
        document["term_languages"] = languages
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    else:
        text += _term_languages_comment(languages)
    sys.stdout.write(text)


def _term_languages(config: Any) -> dict[str, dict[str, dict[str, list[str]]]]:
    """Per topic and keyword group, the terms of each language (by script: Latin en, Cyrillic ru, Devanagari hi)."""
    from monitor.tagging.rules import term_languages

    return {topic.id: term_languages(topic) for topic in config.topics}


def _term_languages_comment(languages: dict[str, dict[str, dict[str, list[str]]]]) -> str:
    """The terms per language as TOML comments, so that the printed config stays a config:

    # terms by language, topic india-russia-summit: en 180, ru 120, hi 110
    #   india_leader: en 20, ru 15, hi 13
    """
    lines: list[str] = []
    for topic, groups in languages.items():
        totals: dict[str, int] = {}
        for by_language in groups.values():
            for code, terms in by_language.items():
                totals[code] = totals.get(code, 0) + len(terms)
        lines.append(f"# terms by language, topic {topic}: " + ", ".join(f"{c} {n}" for c, n in totals.items()))
        for group, by_language in groups.items():
            lines.append(f"#   {group}: " + ", ".join(f"{c} {len(t)}" for c, t in by_language.items()))
    return "\n" + "\n".join(lines) + "\n" if lines else ""
