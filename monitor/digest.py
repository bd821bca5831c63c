"""Digests of new mentions, read from the projections (never from the pipeline's stages).

"New" means recorded after the review cursor (the last ``DigestReviewed``), or at or after ``since``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from sqlalchemy import select
from sqlalchemy.engine import Engine

from storage.projections import articles, feed_state, mentions, unreviewed_position


@dataclass
class Digest:
    items: list[dict[str, Any]]
    since: dt.datetime | None
    after_position: int
    feeds_total: int
    feeds_failing: int
    feeds_polled: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "window": {"since": self.since.isoformat() if self.since else None, "after_position": self.after_position},
            "counts": {"mentions": len(self.items), "feeds": self.feeds_total, "feeds_polled": self.feeds_polled,
                       "feeds_failing": self.feeds_failing},
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def build_digest(engine: Engine, since: dt.datetime | None = None) -> Digest:
    with engine.connect() as conn:
        after = 0
        query = (select(mentions, articles.c.url, articles.c.title, articles.c.feed, articles.c.published_at)
                 .join(articles, articles.c.article_id == mentions.c.article_id)
                 .where(mentions.c.mention.is_(True)))
        if since is not None:
            query = query.where(mentions.c.tagged_at >= since)
        else:
            after = unreviewed_position(conn)
            query = query.where(mentions.c.position > after)
        rows = conn.execute(query.order_by(mentions.c.position)).mappings().all()
        feeds = conn.execute(select(feed_state.c.status, feed_state.c.polls)).all()
    items = []
    for row in rows:
        explanation = row["explanation"] or {}
        items.append({
            "article_id": row["article_id"], "url": row["url"], "title": row["title"], "feed": row["feed"],
            "published_at": _iso(row["published_at"]), "topic": row["topic"], "score": row["score"],
            "sentences": [s["text"] if isinstance(s, dict) else s for s in row["sentences"]],
            "decision": row["decision"], "terms": row["terms"], "dates": explanation.get("dates", []),
            "similarity": explanation.get("similarity", {}), "rule": explanation.get("rule"),
            "topic_version": row["topic_version"], "tagged_at": _iso(row["tagged_at"]), "position": row["position"],
        })
    return Digest(items, since, after, feeds_total=len(feeds),
                  feeds_failing=sum(1 for status, _ in feeds if status == "failing"),
                  feeds_polled=sum(1 for _, polls in feeds if polls))


def to_json(digest: Digest) -> str:
    return json.dumps(digest.as_dict(), ensure_ascii=False, indent=2)


def _header(digest: Digest) -> str:
    window = f"since {digest.since.isoformat()}" if digest.since else "since the last review"
    return (f"{len(digest.items)} new mention(s) {window} · {digest.feeds_polled}/{digest.feeds_total} feeds polled"
            f" · {digest.feeds_failing} failing")


def to_markdown(digest: Digest) -> str:
    lines = ["# news-monitor digest", "", f"_{_header(digest)}_", ""]
    if not digest.items:
        lines.append("No new mentions.")
    for item in digest.items:
        title = item["title"] or item["url"]
        lines += [f"## [{_md(title)}]({item['url']})", "",
                  f"{item['feed']} · published {item['published_at'] or 'unknown'} · topic `{item['topic']}`"
                  f" · score {item['score']:.2f}", ""]
        lines += [f"> {_md(sentence)}" + "\n" for sentence in item["sentences"]]
        if item["dates"]:
            refs = ", ".join(f"{d['text']} → {d['date']}" + (f"…{d['end_date']}" if d["end_date"] != d["date"] else "")
                             for d in item["dates"])
            lines += [f"Dates mentioned: {_md(refs)}", ""]
    return "\n".join(lines).rstrip() + "\n"


def _md(text: str) -> str:
    for ch in "\\`*_[]<>#|":
        text = text.replace(ch, "\\" + ch)
    return " ".join(text.split())


def print_text(digest: Digest, console: Console) -> None:
    console.print(f"[bold]news-monitor digest[/bold] — {escape(_header(digest))}")
    if not digest.items:
        console.print("No new mentions.")
        return
    for item in digest.items:
        console.print()
        console.print(f"[bold]{escape(item['title'] or item['url'])}[/bold]")
        console.print(f"  {escape(item['url'])}")
        console.print(f"  {escape(item['feed'] or '')} · published {escape(item['published_at'] or 'unknown')}"
                      f" · {escape(item['topic'])} · score {item['score']:.2f}")
        for sentence in item["sentences"]:
            console.print(f"  [cyan]›[/cyan] {escape(sentence)}")
        for ref in item["dates"]:
            span = ref["date"] if ref["end_date"] == ref["date"] else f"{ref['date']}…{ref['end_date']}"
            console.print(f"    [dim]date: {escape(ref['text'])} → {span}[/dim]")
