"""The commands about the topics' rules: ``tag`` (JSON lines, offline), ``retag`` (stored articles through
the current rules) and ``explain`` (why an article is or is not tagged).

``monitor.tagging.retag`` plans, records and looks up, and returns data; the tables and text that ``retag``
and ``explain`` print are made here."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import dateutil.parser
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from monitor.cli.common import TEXT_OR_JSON, about, format_option, open_input, options, parse_since
from monitor.errors import MonitorError

if TYPE_CHECKING:
    from monitor.tagging.retag import Change
    from monitor.tagging.rules import TopicResult


def tag(
    ctx: typer.Context,
    input: Annotated[str, typer.Option("--input", help="JSON lines with id, title, text and optional date; "
                                                       "'-' for stdin.")] = "-",
) -> None:
    """Tag JSON lines offline, with no store: one JSON line out per line in.

    Example: echo '{"id": "1", "title": "Modi meets Putin", "text": "..."}' | news-monitor tag
    """
    from monitor.tagging.rules import Tagger

    stream = sys.stdin if input == "-" else open_input(input)
    try:
        items = [(number, _parse_item(line, number)) for number, line in enumerate(stream, 1) if line.strip()]
    finally:
        if stream is not sys.stdin:
            stream.close()
    # The articles seen so far are the input itself: the similarity learns its common words from them.
    tagger = Tagger(options(ctx).config(),
                    background=[f"{item.get('title') or ''}\n{item.get('text') or ''}" for _, item in items])
    for number, item in items:
        title, text = item.get("title") or "", item.get("text") or ""
        language = tagger.language(title, text)  # detected, whatever the input says: as for a feed's entry
        results = tagger.tag(title, text, _item_date(item, number), language=language)
        out = {"id": item.get("id"), "language": language,
               "topics": {tid: r.as_dict() for tid, r in results.items()}}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")


def _parse_item(line: str, number: int) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise MonitorError(f"input line {number}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(item, dict):
        raise MonitorError(f"input line {number}: expected a JSON object with id, title and text")
    for key in ("title", "text"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise MonitorError(f"input line {number}: {key!r} must be a string")
    return item


def _item_date(item: dict[str, Any], number: int) -> dt.date | None:
    """The item's date in ISO 8601, RFC 2822 or a common written form; a warning and None otherwise."""
    value = item.get("date")
    if not value:
        return None
    text = str(value).strip()
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    try:
        return dateutil.parser.parse(text, dayfirst=True, fuzzy=False).date()
    except (ValueError, OverflowError):
        print(f"news-monitor: warning: input line {number}: cannot read 'date' {text!r}; "
              "dates in the text are resolved without it", file=sys.stderr)
        return None


def retag(
    ctx: typer.Context,
    topic: Annotated[str | None, typer.Option("--topic", help="Only this topic (its id).")] = None,
    since: Annotated[str | None, typer.Option(help="Only articles published at or after this ISO date.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would change; write nothing.")] = False,
    format: Annotated[str, format_option(TEXT_OR_JSON, "text or json.")] = "text",
) -> None:
    """Re-run stored articles through the topics' current rules; record tags added, removed or changed.

    Example: news-monitor retag --dry-run
    """
    from monitor.pipeline import Monitor
    from monitor.tagging.retag import check_topic, plan, record

    after = parse_since(since)
    with Monitor(options(ctx).config()) as monitor:
        monitor.projections.catch_up()
        with about("--topic"):
            check_topic(monitor.config, topic)
        from monitor.cli.progress import progress

        with progress("tagging stored articles again") as advance:
            changes = plan(monitor.config, monitor.log, monitor.tagger, topic=topic, since=after, on_article=advance)
        recorded = 0
        if not dry_run and changes:
            with progress("recording the changes"):
                recorded = record(monitor.log, changes)
                monitor.projections.catch_up()
    if format == "json":
        print(json.dumps({"dry_run": dry_run, "recorded": recorded, "changes": [c.as_dict() for c in changes]},
                         ensure_ascii=False))
    else:
        _print_changes(changes, Console(highlight=False, soft_wrap=True), dry_run=dry_run, recorded=recorded)


def explain(
    ctx: typer.Context,
    article: Annotated[str, typer.Argument(help="The article's id, a unique id prefix, or its URL.")],
    current: Annotated[bool, typer.Option("--current", help="Also tag it again with the current config "
                                                            "(nothing is written).")] = False,
    format: Annotated[str, format_option(TEXT_OR_JSON, "text or json.")] = "text",
) -> None:
    """Print why a stored article is or is not tagged: rules, terms, sentences, dates and similarity.

    Example: news-monitor explain 3f2a9c1e
    """
    from monitor.pipeline import Monitor
    from monitor.tagging.retag import ArticleNotFound, find_article, stored_explanations

    with Monitor(options(ctx).config()) as monitor:
        monitor.projections.catch_up()
        try:
            row = find_article(monitor.log, article)
        except ArticleNotFound as exc:
            raise MonitorError(f"no stored article matches {exc.ref!r} (give its id, an id prefix or its URL; "
                               "`news-monitor events --type ArticleDiscovered` lists them)") from None
        stored = stored_explanations(monitor.log, row["article_id"])
        now = (monitor.tagger.tag(row["title"] or "", row["text"] or "", row["published_at"])
               if current else None)
    if format == "json":
        out = {"article": {k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                           for k, v in row.items() if k != "text"},
               "recorded": stored, "current": {k: r.as_dict() for k, r in now.items()} if now else None}
        print(json.dumps(out, ensure_ascii=False, default=str))
    else:
        _print_explanation(row, stored, now, Console(highlight=False, soft_wrap=True))


# -- printing ----------------------------------------------------------------------------------------------

def _print_changes(changes: list[Change], console: Console, *, dry_run: bool, recorded: int | None = None) -> None:
    """A table of what changed (added, removed, score changes); feed text is printed as text, never markup."""
    counts = {kind: sum(1 for c in changes if c.kind == kind) for kind in ("added", "removed", "changed")}
    summary = f"{counts['added']} added, {counts['removed']} removed, {counts['changed']} changed"
    if not changes:
        console.print("No tag changes: the stored tags match the current config.", markup=False)
        return
    table = Table("change", "topic", "decision", "score", "article", "title", show_lines=False)
    for c in changes:
        before = f"{c.score_before:.3f}" if c.score_before is not None else "-"
        table.add_row(c.kind, c.topic, f"{c.before} -> {c.after}", f"{before} -> {c.score_after:.3f}",
                      c.article_id[:8], c.title[:80])
    console.print(table)
    if dry_run:
        console.print(f"dry run: {summary}; nothing written", markup=False)
    else:
        console.print(f"{summary}; {recorded} event(s) recorded", markup=False)


def _print_explanation(article: dict[str, Any], stored: dict[str, dict[str, Any]],
                        current: dict[str, TopicResult] | None, console: Console) -> None:
    """The article, then per topic its recorded reasoning (and with ``current``, today's); feed text is
    escaped, never read as markup."""
    console.print(f"[bold]{escape(article['title'] or '(no title)')}[/bold]")
    console.print(f"article {article['article_id']} · feed {escape(str(article['feed']))} · published "
                  f"{article['published_at'].isoformat() if article['published_at'] else 'unknown'}")
    console.print(f"{escape(article['url'])}")
    console.print(f"text: {article['word_count'] or 0} words from {article['text_source'] or 'nowhere'}"
                  + (f" (extraction: {escape(str(article['extraction_reason']))})"
                     if article["extraction_reason"] else "")
                  + (f" · language {escape(str(article['language']))}" if article.get("language") else ""))
    topics = sorted(set(stored) | set(current or {}))
    if not topics:
        console.print("\nNo topic tagged this article (nothing recorded; --current re-runs today's rules).")
    for topic in topics:
        console.print()
        if topic in stored:
            _print_reasoning(console, f"{topic}: recorded", stored[topic])
            _print_verdict(console, stored[topic])
        else:
            console.print(f"[bold]{escape(topic)}[/bold]: nothing recorded (the rules gave no tag)")
        if current is not None and topic in current:
            _print_reasoning(console, f"{topic}: with the current config", current[topic].as_dict())


def _print_verdict(console: Console, data: dict[str, Any]) -> None:
    """The analyst's verdict on the tag, if any: what it was, when, on which decision, and its note."""
    if not data.get("verdict"):
        return
    judged = data.get("judged") or {}
    when = data["judged_at"].isoformat() if isinstance(data.get("judged_at"), dt.datetime) else data.get("judged_at")
    console.print(f"  verdict: {escape(data['verdict'])}ed by the analyst at {when} (the tag was "
                  f"{escape(str(judged.get('decision')))}, topic version {escape(str(judged.get('topic_version')))})"
                  + (f" · note: {escape(data['verdict_note'])}" if data.get("verdict_note") else ""))


def _print_reasoning(console: Console, heading: str, data: dict[str, Any]) -> None:
    console.print(f"[bold]{escape(heading)}[/bold]: {data.get('decision')} (score {data.get('score', 0):.3f}, "
                  f"topic version {escape(str(data.get('topic_version')))})")
    if data.get("decision") == "retracted":
        console.print(f"  retracted: the rules of version {escape(str(data.get('topic_version')))} no longer "
                      f"give it (was {escape(str(data.get('previous_decision')))})")
        return
    console.print(f"  rule: {escape(str(data.get('rule', '')))} → rule part {data.get('rule_score', 0):.2f}"
                  + (f" · language {escape(str(data['language']))}" if data.get("language") else ""))
    for group, labels in (data.get("groups") or {}).items():
        console.print(f"  group {escape(group)}: {escape(', '.join(labels))}")
    similarity = data.get("similarity") or {}
    for name, value in sorted(similarity.items(), key=lambda kv: -kv[1]):
        console.print(f"  similarity to {escape(name)}: {value:.3f}")
    for item in data.get("evidence") or []:
        mark = " (history: does not count)" if item.get("history") else \
            " (context: does not count)" if item.get("context") else ""
        language = f" {item['language']}" if item.get("language") else ""
        where = f"[{item['field']} {item['start']}-{item['end']}{language}]"  # escaped: not a markup tag
        console.print(f"  {escape(where)}{escape(mark)} "
                      f"{escape(item['text'])}")
        console.print(f"      terms: {escape(', '.join(item['terms']))}")
        if item.get("participants"):
            console.print(f"      participants: {escape(_participants(item['participants']))}")
        if item.get("clause"):
            console.print(f"      counted in the clause: {escape(item['clause'])}")
        for ref in item.get("dates") or []:
            span = ref["date"] if ref["date"] == ref["end_date"] else f"{ref['date']} to {ref['end_date']}"
            console.print(f"      date: {escape(ref['text'])!s} → {span}")
        closest = item.get("closest_reference")
        if closest:
            console.print(f"      closest reference: {escape(closest['document'])} ({closest['similarity']:.3f})")
    for item in data.get("blocked") or []:
        where = f"[{item['field']} {item['start']}-{item['end']}]"
        console.print(f"  {escape(where)} (does not count: {escape(', '.join(item['by']) or 'excluded')}) "
                      f"{escape(item['text'])}")
        if item.get("participants"):
            console.print(f"      participants: {escape(_participants(item['participants']))}")


def _participants(found: list[dict[str, Any]]) -> str:
    """"Narendra Modi (india, leader) · British Prime Minister (third country GB, leader)"."""
    parts = []
    for p in found:
        side = f"third country {p['country']}" if p["side"] == "third" and p.get("country") else p["side"]
        parts.append(f"{p['name']} ({side}, {p['role']})")
    return " · ".join(parts)
