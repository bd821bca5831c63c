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


def test_demo_serve_keeps_the_log_and_the_local_site_until_ctrl_c() -> None:
    import re
    import signal
    import socket

    import httpx
    import lxml.html

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWS_MONITOR_")}
    process = subprocess.Popen([sys.executable, "-m", "monitor", "demo", "--serve", "--port", str(port)], cwd=REPO,
                               env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "serving the review page on" in line:
                break
        assert f"serving the review page on http://127.0.0.1:{port}/" in lines[-1], "".join(lines)
        database = re.search(r"the demo's log: (\S+)", "".join(lines))
        assert database is not None
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200
        doc = lxml.html.fromstring(page.text)
        links = doc.xpath("//article[contains(@class, 'item')]//h2/a/@href")
        assert links and doc.xpath("//section[@id='timeline']//details")
        # The article links point at the demo's local site, which is still up.
        assert all(httpx.get(link, timeout=10).status_code == 200 for link in links)
        timeline = subprocess.run([sys.executable, "-m", "monitor", "--database-url", database.group(1), "timeline",
                                   "--format", "json"], cwd=REPO, env=env, capture_output=True, text=True,
                                  timeout=120)
        assert timeline.returncode == 0, timeline.stderr
        assert '"events"' in timeline.stdout
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode in (0, 130)


def test_the_demos_timeline_has_no_modi_xi_event_and_names_the_outlets_by_their_feeds() -> None:
    from monitor.config import load_config
    from monitor.demo.run import demo_site
    from monitor.digest.build import build_digest
    from monitor.digest.timeline import build_timeline
    from monitor.views.log import open_log
    from tests.builders import SHIPPED_CONFIG

    with demo_site(load_config(SHIPPED_CONFIG)) as (config, _):
        log = open_log(config)
        try:
            events = build_timeline(log.engine)
            digest = build_digest(log.engine)
        finally:
            log.close()
    assert ("2025-09-01", "Tianjin, China") in {(e["start"], e["place"]) for e in events}
    # The demo's Modi–Xi article (31 August, Tianjin) and the Putin–Xi one make no event and are no evidence.
    assert not any("Xi Jinping" in e["participants"] or e["start"] == "2025-08-31" for e in events)
    assert not any("Xi" in item["sentence"] or "modi-xi" in (item["url"] or "") or "putin-xi" in (item["url"] or "")
                   for e in events for item in e["evidence"])
    # Outlets are the feeds' own titles, less their section: "Demo Herald – World News" is "Demo Herald".
    assert {name for e in events for name in e["outlets"]} <= {"Demo Herald", "Demo Diplomatic Wire"}
    assert {item["outlet"] for item in digest.items} == {"Demo Herald", "Demo Diplomatic Wire"}
