"""The commands that show and review mentions: ``digest`` (print, write or issue a digest) and ``review``
(mark everything so far reviewed)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from monitor.cli.common import check_known, format_option, opened_log, options, parse_day, parse_since
from monitor.errors import MonitorError

DIGEST_FORMATS = ("text", "markdown", "html", "json", "atom")


def digest(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="Mentions recorded since this ISO date, instead of the "
                                                   "unreviewed ones.")] = None,
    format: Annotated[str, format_option(DIGEST_FORMATS, "text, markdown, html (a standalone page), json "
                                                              "or atom.")] = "text",
    topic: Annotated[str | None, typer.Option(help="Only this topic (its id).")] = None,
    feed: Annotated[str | None, typer.Option(help="Only articles from this feed.")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="Only articles published on or after this "
                                                                 "date.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Only articles published on or before this "
                                                             "date.")] = None,
    min_score: Annotated[float | None, typer.Option("--min-score", help="Only mentions scoring at least this "
                                                                        "(0-1).")] = None,
    status: Annotated[str | None, typer.Option(help="unreviewed (the default), reviewed or all.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of "
                                                                       "stdout.")] = None,
    mark_reviewed: Annotated[bool, typer.Option("--mark-reviewed", help="Then mark the mentions shown as "
                                                                         "reviewed (appends DigestReviewed).")] = False,
    issue: Annotated[bool, typer.Option("--issue", help="Issue a digest now, as the schedule does: record "
                                                        "DigestIssued, write it to [digest] output_dir, send it "
                                                        "to the channels.")] = False,
) -> None:
    """Print the new mentions, grouped by story and by day, with their sentences, dates and scores.

    Example: news-monitor digest --format markdown --feed tass-world --min-score 0.6
    Example: news-monitor digest --format html -o digest.html --mark-reviewed
    Example: news-monitor digest --issue
    """
    from monitor.digest import render
    from monitor.digest.build import Filters, build_digest
    from monitor.views.log import projections
    from monitor.views.review import mark_reviewed as review_items

    if issue:
        given = [name for name, value in (("--since", since), ("--topic", topic), ("--feed", feed),
                                          ("--from", date_from), ("--to", date_to), ("--min-score", min_score),
                                          ("--status", status), ("--output", output)) if value is not None]
        given += ["--mark-reviewed"] * mark_reviewed + ["--format"] * (format != "text")
        if given:
            raise MonitorError("--issue: an issued digest holds every mention since the last one; it cannot be "
                               f"combined with {', '.join(given)}")
        _issue_now(ctx)
        return
    after = parse_since(since)
    try:
        filters = Filters(topic=topic, feed=feed, date_from=parse_day(date_from, "--from"),
                          date_to=parse_day(date_to, "--to"), min_score=min_score,
                          status=status or ("all" if after else "unreviewed"))  # type: ignore[arg-type]
    except ValueError as exc:
        raise MonitorError(str(exc)) from None
    config = options(ctx).config()
    with opened_log(ctx) as log:
        projections(log).catch_up()
        check_names(log, config, topic=topic, feed=feed)
        result = build_digest(log.engine, after, filters=filters)
        if format == "text" and output is None:
            render.print_text(result, Console(highlight=False, soft_wrap=True))
        else:
            content = render.render_as(result, format, config)
            if output is None:
                sys.stdout.write(content if content.endswith("\n") else content + "\n")
            else:
                try:
                    output.write_text(content, encoding="utf-8")
                except OSError as exc:
                    raise MonitorError(f"--output: cannot write {output}: {exc.strerror}") from exc
                print(f"wrote {len(result.items)} mention(s) in {len(result.stories)} stories to {output}",
                      file=sys.stderr)
        if mark_reviewed:
            recorded = review_items(log, result.refs(), source="digest")
            print(f"marked {len(result.items)} mention(s) reviewed" if recorded else "nothing new to mark reviewed",
                  file=sys.stderr)


def check_names(log: Any, config: Any, *, topic: str | None = None, feed: str | None = None) -> None:
    """``--topic`` and ``--feed`` must name a topic or feed of the config or the log (exit 2 otherwise)."""
    from monitor.views.queries import known_names
    from storage.engine import reading

    if topic is None and feed is None:
        return
    with reading(log.engine) as conn:
        topics, feeds = known_names(conn)
    check_known("--topic", topic, topics | {t.id for t in config.topics}, "topic")
    check_known("--feed", feed, feeds | {f.name for f in config.feeds}, "feed")


def _issue_now(ctx: typer.Context) -> None:
    from monitor.digest.publish import issue_digest

    config = options(ctx).config()
    with opened_log(ctx) as log:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        issued = issue_digest(config, log, now)
    if not issued.recorded:
        print(f"digest {issued.digest_id} was issued already")
        return
    digest = issued.digest
    assert digest is not None
    print(f"issued digest {issued.digest_id}: {len(digest.items)} mention(s) in {len(digest.stories)} stories")
    for fmt, path in (issued.files or {}).items():
        print(f"  wrote {fmt}: {path}")
    for name, delivery in (issued.deliveries or {}).items():
        outcome = (f"delivered ({delivery.detail})" if delivery.delivered
                   else f"failed after {delivery.attempts} attempt(s): {delivery.reason}: {delivery.message}")
        print(f"  {name}: {outcome}")
    if not config.digest.channels:
        print("  no channels configured ([[digest.channels]])")


def review(
    ctx: typer.Context,
    reject: Annotated[str | None, typer.Option("--reject", metavar="ARTICLE",
                                               help="Mark this article's tag as wrong: it leaves the digest "
                                                    "(the id, a unique id prefix or the URL, as explain takes "
                                                    "it).")] = None,
    accept: Annotated[str | None, typer.Option("--accept", metavar="ARTICLE",
                                               help="Mark this untagged article as relevant: it enters the "
                                                    "digest as a mention.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why (kept with the verdict).")] = None,
    topic: Annotated[str | None, typer.Option("--topic", help="The topic judged (its id); the default is the "
                                                              "only topic, when there is one.")] = None,
) -> None:
    """Mark everything recorded so far as reviewed (appends DigestReviewed), or judge one article
    (appends MentionJudged): --reject a wrong tag, --accept an article the tagger missed.

    Example: news-monitor review
    Example: news-monitor review --reject 3f2a9c1e --note "a G20 preview, no meeting"
    """
    if reject is None and accept is None:
        if note is not None or topic is not None:
            raise typer.BadParameter("only with --reject or --accept", param_hint="--note/--topic")
        from monitor.views.review import review_all, unreviewed_now

        with opened_log(ctx) as log:
            marked = unreviewed_now(log)
            position = review_all(log, source="cli")
        print(f"marked {marked} mention{'' if marked == 1 else 's'} reviewed (everything up to position {position})")
        return
    if reject is not None and accept is not None:
        raise typer.BadParameter("give one of them, not both", param_hint="--reject/--accept")
    _judge(ctx, "reject" if reject is not None else "accept", reject or accept or "", note, topic)


def _judge(ctx: typer.Context, verdict: str, ref: str, note: str | None, topic: str | None) -> None:
    from monitor.tagging.retag import ArticleNotFound
    from monitor.tagging.verdicts import UnknownTopic, judge_article
    from monitor.views.log import projections

    option = f"--{verdict}"
    config = options(ctx).config()
    with opened_log(ctx) as log:
        projections(log).catch_up()
        try:
            done = judge_article(config, log, ref, verdict, topic=topic, note=note, source="cli")
        except UnknownTopic as exc:
            raise typer.BadParameter(str(exc), param_hint="--topic") from None
        except ArticleNotFound as exc:
            raise typer.BadParameter(f"no stored article matches {exc.ref!r} (give its id, an id prefix or its "
                                     "URL, as explain takes it)", param_hint=option) from None
    judged = done.judgement
    title = done.article.get("title") or done.article.get("url") or judged.article_id
    if not judged.recorded:
        print(f"{judged.article_id} already {verdict}ed for {judged.topic}: nothing recorded")
        return
    was = f", superseding {judged.previous}" if judged.previous else ""
    print(f"{verdict}ed {judged.article_id} for {judged.topic} (it was {judged.decision}{was}): {title}")
