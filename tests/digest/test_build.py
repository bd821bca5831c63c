"""build_digest's own mechanics (what it shows is tested with the renderers, the stories and the views)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from monitor.digest.build import build_digest
from monitor.events import catalogue as ev
from monitor.views import queries
from storage.eventlog import EventLog


@pytest.mark.parametrize("enabled", [True, False], ids=["collector-on", "collector-off"])
def test_the_cyclic_collector_is_paused_while_a_digest_is_read_and_left_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool) -> None:
    log = EventLog.open(f"sqlite:///{tmp_path / 'log.sqlite3'}", migrate=True, upcasters=ev.UPCASTERS)
    seen: list[bool] = []
    read = queries.digest_summary
    monkeypatch.setattr(queries, "digest_summary", lambda conn, *names: (seen.append(gc.isenabled()),
                                                                          read(conn, *names))[1])
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        digest = build_digest(log.engine)
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
        log.close()
    assert seen == [False] and digest.items == []
