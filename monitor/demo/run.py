"""``news-monitor demo``: the whole product on bundled sample content, with no network.

It serves the sample feeds and article pages in ``monitor/demo/data`` from 127.0.0.1, runs one poll
cycle of the shipped topics into a temporary SQLite log, and returns the digest. ``demo_site`` keeps the log and
the local site up while its block runs (``demo --serve`` serves the review page over them until Ctrl-C).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from monitor.config import Config, config_from_dict
from monitor.demo.server import StaticServer
from monitor.digest.build import Digest, build_digest
from monitor.pipeline import Monitor, PollOutcome

DEMO_DATA = Path(__file__).parent / "data"


def demo_config(base: Config, base_url: str, database_url: str) -> Config:
    """The user's topics, with the bundled feeds and loopback allowed (the demo server is local)."""
    raw = base.model_dump(mode="json", by_alias=True, exclude={"source"})
    raw["storage"] = {"url": database_url}
    raw["network"] = {**raw["network"], "allow_private_addresses": True}
    raw["feeds"] = [
        {"name": path.stem, "url": f"{base_url}/feeds/{path.name}", "interval": "15m"}
        for path in sorted((DEMO_DATA / "feeds").iterdir()) if path.suffix in (".rss", ".atom", ".xml")
    ]
    return config_from_dict(raw, source=base.source, database_url=database_url)


@contextmanager
def demo_site(base: Config) -> Iterator[tuple[Config, list[PollOutcome]]]:
    """The demo's config (its log polled once) while the local site serves the sample feeds and pages: the
    article links work until the block ends; then the log is removed."""
    with tempfile.TemporaryDirectory(prefix="news-monitor-demo-") as tmp, StaticServer(DEMO_DATA) as server:
        config = demo_config(base, server.base_url, f"sqlite:///{Path(tmp) / 'demo.sqlite3'}")
        with Monitor(config) as monitor:
            outcomes = monitor.poll()
        yield config, outcomes


def run_demo(base: Config) -> tuple[Digest, list[PollOutcome]]:
    with tempfile.TemporaryDirectory(prefix="news-monitor-demo-") as tmp, StaticServer(DEMO_DATA) as server:
        config = demo_config(base, server.base_url, f"sqlite:///{Path(tmp) / 'demo.sqlite3'}")
        with Monitor(config) as monitor:
            outcomes = monitor.poll()
            return build_digest(monitor.log.engine), outcomes
