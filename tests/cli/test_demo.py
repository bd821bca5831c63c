"""`news-monitor demo` / `make demo`: the product working with no network, on bundled sample content."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUMMIT = ["Modi and Putin hold bilateral talks", "Jaishankar and Lavrov hold talks in Moscow",
          "Putin heads to New Delhi for the 23rd annual"]


def _titles(folder: str, suffix: str) -> list[str]:
    import feedparser

    titles = []
    for path in sorted((REPO / "monitor" / "demo" / "data" / folder).glob(f"*{suffix}")):
        titles += [e.title for e in feedparser.parse(path.read_bytes()).entries]
    return titles


def test_demo_prints_the_summit_articles_and_no_near_miss(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWS_MONITOR_")}
    # A database URL in the environment must not redirect the demo away from its temporary log.
    env["NEWS_MONITOR_DATABASE_URL"] = f"sqlite:///{tmp_path / 'must-not-be-used.sqlite3'}"
    result = subprocess.run([sys.executable, "-m", "monitor", "demo"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "3 new mentions in 3 stories" in out  # the header counts: the three summit articles, three events
    for title in SUMMIT:
        assert title in out
    feed_titles = _titles("feeds", ".rss") + _titles("feeds", ".atom")
    assert len(feed_titles) == 9
    for title in feed_titles:
        if not any(s in title for s in SUMMIT):
            assert title not in out, f"the near miss or unrelated item {title!r} was tagged"
    assert not (tmp_path / "must-not-be-used.sqlite3").exists()
