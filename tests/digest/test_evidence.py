"""Evidence, shortest path first: the best one to three sentences (those that count first), the rest folded,
history and context marked, in the page's and the digests' order; the rule that fired shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.digest.build import Filters, build_digest
from monitor.digest.evidence import best_and_rest, ranked
from monitor.digest.render import render_as
from monitor.events import catalogue as ev
from storage.eventlog import EventLog
from tests.builders import SHIPPED_CONFIG
from tests.timelines import append_report, seed_reports


def sentence(text: str, groups: int, **flags: bool) -> dict:
    return {"text": text, "terms": [], "groups": [f"g{i}" for i in range(groups)], "history": False,
            "context": False, **flags}


def test_ranked_puts_counting_sentences_with_more_groups_first() -> None:
    item = {"evidence": [sentence("old", 5, history=True), sentence("thin", 1), sentence("background", 4, context=True),
                         sentence("rich", 3), sentence("middle", 2)]}
    assert [(s["text"], s["label"]) for s in ranked(item)] == [
        ("rich", None), ("middle", None), ("thin", None), ("old", "history"), ("background", "context")]
    best, rest = best_and_rest(item)
    assert [s["text"] for s in best] == ["rich", "middle", "thin"] and [s["text"] for s in rest] == ["old",
                                                                                                   "background"]
    # An item recorded before evidence was kept has its plain sentences, all counting, in order.
    assert [s["text"] for s in ranked({"sentences": ["a", "b"], "terms": ["x"]})] == ["a", "b"]


@pytest.fixture
def event_log(tmp_path: Path, shared_dir: Path) -> Iterator[EventLog]:
    log = EventLog.open(f"sqlite:///{tmp_path / 'log.sqlite3'}", migrate=True, upcasters=ev.UPCASTERS)
    append_report(log, seed_reports(shared_dir)[1])  # the Kremlin seed: 17 sentences, one of history
    yield log
    log.close()


def test_digests_show_the_best_three_and_fold_the_rest(event_log: EventLog) -> None:
    digest = build_digest(event_log.engine, filters=Filters(status="all"))
    (item,) = digest.items
    assert len(item["evidence"]) > 3 and any(e.get("history") for e in item["evidence"])
    uncounted = sum(1 for e in item["evidence"] if e.get("history") or e.get("context"))
    folded = f"… and {len(item['evidence']) - 3} more sentences ({uncounted} history or context, which do not count)"
    config = load_config(SHIPPED_CONFIG)
    text = render_as(digest, "text", config)
    items_text = text.split(" 2025-11-18 ", 1)[1]
    assert items_text.count("    › ") == 3 and folded in " ".join(items_text.split())
    assert f"Rule that fired: {item['rule']}" in render_as(digest, "html", config)
    markdown = render_as(digest, "markdown", config)
    items_part = markdown.split("\n## 2025-", 1)[1]  # after the timeline, which quotes its own evidence
    assert items_part.count("  > ") == 3 and "more sentences" in items_part
    assert "The last Summit was held" not in text  # a history sentence is folded, not shown


@pytest.mark.parametrize("width", [60, 100, 140])
def test_the_text_digest_wraps_to_the_width_with_a_hanging_indent(event_log: EventLog, width: int) -> None:
    from monitor.digest.render import to_text

    lines = to_text(build_digest(event_log.engine, filters=Filters(status="all")), width=width).splitlines()
    assert max(len(line) for line in lines if not line.strip().startswith("http")) <= width
    items = lines[next(i for i, line in enumerate(lines) if " 2025-11-18 " in line):]  # the day's rule
    sentences = [i for i, line in enumerate(items) if line.startswith("    › ")]
    assert len(sentences) == 3
    # A sentence's wrapped lines hang under its text, two columns in from the "›".
    continued = [items[i + 1] for i in sentences if not items[i + 1].startswith(("    › ", "    … "))]
    assert continued and all(line.startswith("      ") and line[6] != " " for line in continued)
