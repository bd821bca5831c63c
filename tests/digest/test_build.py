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


@pytest.mark.parametrize("frozen", [False, True], ids=["nothing-frozen", "heap-frozen"])
def test_what_a_digest_leaves_alive_goes_to_the_oldest_generation(tmp_path: Path, frozen: bool) -> None:
    """Resumed, the collector does not walk the digest's objects as young ones: they are in the oldest
    generation, and nothing stays frozen. Objects something else froze (a pre-fork server) stay frozen, and then
    nothing is moved."""
    log = EventLog.open(f"sqlite:///{tmp_path / 'log.sqlite3'}", migrate=True, upcasters=ev.UPCASTERS)
    was = gc.isenabled()
    keep = [object()]  # a container made before the digest, frozen in the second case
    try:
        gc.enable()
        if frozen:
            gc.freeze()
        digest = build_digest(log.engine)
        oldest = {id(obj) for obj in gc.get_objects(generation=2)}
        assert gc.isenabled()
        assert (gc.get_freeze_count() > 1000) is frozen  # theirs still frozen; none of ours left frozen
        assert (id(digest.items) in oldest) is not frozen
        assert frozen or gc.get_count()[0] < 50  # nothing young left to walk
    finally:
        gc.unfreeze()
        gc.enable() if was else gc.disable()
        log.close()
    assert keep
