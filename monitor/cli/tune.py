"""``tune``: config changes proposed from the analyst's verdicts, with their effect as a retag dry run;
written only with ``--accept`` (or a yes at the prompt, on a terminal)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console

from monitor.cli.common import TEXT_OR_JSON, format_option, options
from monitor.tagging.tune import Proposal, Tuning


def tune(
    ctx: typer.Context,
    topic: Annotated[str | None, typer.Option("--topic", help="The topic to tune (its id); the default is the "
                                                              "only topic, when there is one.")] = None,
    accept: Annotated[bool, typer.Option("--accept", help="Write the best proposal for each judged article to "
                                                          "the config (comments kept); then run retag.")] = False,
    format: Annotated[str, format_option(TEXT_OR_JSON, "text or json.")] = "text",
) -> None:
    """Propose config changes from the verdicts (review --reject/--accept), each with its retag dry run.

    Example: news-monitor tune --topic india-russia-summit
    Example: news-monitor tune --accept && news-monitor retag
    """
    from monitor.pipeline import Monitor
    from monitor.tagging.tune import propose, write
    from monitor.tagging.verdicts import UnknownTopic, resolve_topic

    opts = options(ctx)
    config = opts.config()
    try:
        topic_id = resolve_topic(config, topic)
    except UnknownTopic as exc:
        raise typer.BadParameter(str(exc), param_hint="--topic") from None
    with Monitor(config) as monitor:
        monitor.projections.catch_up()
        tuning = propose(config, monitor.log, topic_id, background=monitor.background_texts(),
                         tagger=monitor.tagger)
    console = Console(highlight=False, soft_wrap=True)
    best = tuning.best()
    interactive = not accept and format == "text" and sys.stdin.isatty() and sys.stdout.isatty()
    if format == "json":
        written = write(opts.config_path, topic_id, best) if accept else []
        print(json.dumps({**tuning.as_dict(), "accepted": accept,
                          "written": [p.as_dict() for p in written]}, ensure_ascii=False))
        return
    _print(tuning, console)
    if not best:
        return
    if accept or interactive:
        ask = (lambda p: typer.confirm(f"write: {p.edit.describe()}?", default=False)) if interactive else None
        written = write(opts.config_path, topic_id, best, **({"confirm": ask} if ask else {}))
        for proposal in written:
            console.print(f"wrote: {proposal.edit.describe()}", markup=False)
        if written:
            console.print("Run `news-monitor retag` to record the changes (a running daemon reloads the config).",
                          markup=False)
    else:
        console.print(f"Nothing written: `news-monitor tune --topic {topic_id} --accept` writes the first proposal "
                      "of each article.", markup=False)


def _print(tuning: Tuning, console: Console) -> None:
    out = console.print
    unresolved = len(tuning.unresolved)
    out(f"{tuning.topic}: {tuning.verdicts} verdict(s), {unresolved} the current rules still get wrong", markup=False)
    by_article: dict[str, list[Proposal]] = {}
    for proposal in tuning.proposals:
        by_article.setdefault(proposal.article_id, []).append(proposal)
    for item in tuning.unresolved:
        out("", markup=False)
        out(f"{item['verdict']}ed {item['article_id']} (now {item['decision']}): {item['title']}", markup=False)
        found = by_article.get(item["article_id"], [])
        if not found:
            out("  no single change found that fixes it", markup=False)
        for number, proposal in enumerate(found, 1):
            wrong = f", {len(proposal.wrong)} wrong" if proposal.wrong else ""
            out(f"  {number}. {proposal.edit.describe()}: retag dry run {proposal.added} added, {proposal.removed} "
                f"removed, {proposal.changed} changed; judged articles {len(proposal.right)} right{wrong}",
                markup=False)
