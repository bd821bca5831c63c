"""Workers on the real PostgreSQL (#17): real worker processes, a real local site, the server's own counts.

One 60-second run carries the fleet's claims: 3 workers poll 60 feeds at a fixed 5 s interval and one of them
is SIGKILLed at 20 s while it polls. The feeds the dead worker held (the takeovers it recorded) must be polled
again within ``takeover`` + one interval; every other feed must be polled 12 ± 1 times in its first 60 s, and
its server hit count must equal its polls in the log (a poll the kill cut short may have hit the server and
recorded nothing: for the taken-over feeds, hits = polls or polls + 1). No feed is polled twice within one
interval; every published entry is in the log exactly once, with its whole batch; each digest slot (every
minute) is issued once; and ``news-monitor run`` beside the workers refuses in one line. A separate no-kill
run would cost another minute of CI for the same 12 ± 1 claim on the ~57 feeds the kill does not touch.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from monitor.daemon.run import REFUSE_SECOND_RUN
from monitor.daemon.workers import REFUSE_RUN, REFUSE_WORKER
from monitor.events import catalogue as ev
from storage.eventlog import EventLog
from tests.builders import REPO, cli, config_text, one_line
from tests.daemon.fleet import Site, Workers, worker_env

INTERVAL = 5.0
TAKEOVER = 10.0
FEEDS = 60
RUN = 60.0


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def fleet_config(tmp_path: Path, url: str, site: Site, feeds: int, **digest: object) -> Path:
    path = tmp_path / "monitor.toml"
    text_ = config_text(url, [{"name": f"f{i}", "url": site.url(i), "interval": f"{INTERVAL:g}s",
                               "fetch_full_text": False} for i in range(feeds)],
                        scheduler={"jitter": "0", "min_interval": "1s", "takeover": f"{TAKEOVER:g}s",
                                   "max_per_host": 32, "shutdown_grace": "5s"})
    if digest:
        import tomlkit

        document = tomlkit.parse(text_)
        for key, value in digest.items():
            document["digest"][key] = value
        text_ = tomlkit.dumps(document)
    path.write_text(text_, encoding="utf-8")
    return path


def command(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=worker_env(), cwd=REPO)


def polls_by_feed(log: EventLog) -> dict[int, list[float]]:
    polls: dict[int, list[float]] = defaultdict(list)
    for event in log.read(types=[ev.FEED_POLLED, ev.FEED_FAILED]):
        polls[int(event.data["feed"].removeprefix("f"))].append(event.occurred_at.timestamp())
    return {i: sorted(times) for i, times in polls.items()}


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def doing_pid(log: EventLog, pids: set[int]) -> int | None:
    """The pid of one of our workers that is running a poll now."""
    with log.engine.connect() as conn:
        rows = conn.execute(text("SELECT q.pid FROM procrastinate_jobs j JOIN queue_workers q ON q.worker_id = "
                                 "j.worker_id WHERE j.status = 'doing' AND j.task_name = 'poll_feed'")).all()
    return next((pid for (pid,) in rows if pid in pids), None)


def takeovers(log: EventLog) -> int:
    with log.engine.connect() as conn:
        return int(conn.scalar(text("SELECT count(*) FROM queue_takeovers")) or 0)


def scrape(config: Path, log: EventLog) -> dict:
    """/metrics of a review page on this config, parsed into families by name."""
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    from monitor.config import load_config
    from monitor.web import create_app

    with TestClient(create_app(load_config(config), log=log), base_url="http://127.0.0.1:8080") as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    return {family.name: family for family in text_string_to_metric_families(response.text)}


@pytest.mark.postgres
def test_three_workers_poll_each_feed_once_per_interval_and_a_killed_one_is_taken_over(
        postgres_url: str, tmp_path: Path) -> None:
    site = Site(FEEDS, every=10.0, latency=0.2)
    config = fleet_config(tmp_path, postgres_url, site, FEEDS, schedule="* * * * *",
                          output_dir=str(tmp_path / "digests"), formats=["json"])
    EventLog.open(postgres_url, migrate=True).close()
    log = EventLog.open(postgres_url)
    workers = Workers(config, tmp_path)
    try:
        for _ in range(3):
            workers.start()
        assert wait_for(lambda: len(site.hits) == FEEDS, 90), workers.output()
        started = time.time()
        beside = command(config, "run")  # a run daemon beside live workers
        assert wait_for(lambda: time.time() - started >= 20, 30)
        pids = {p.pid for p in workers.alive()}
        assert wait_for(lambda: doing_pid(log, pids) is not None, 5, step=0.01)
        victim = next(p for p in workers.alive() if p.pid == doing_pid(log, pids))
        workers.kill(victim)
        killed_at = time.time()
        assert wait_for(lambda: takeovers(log) > 0, TAKEOVER + 5), workers.output()
        status, families = json.loads(command(config, "workers", "status", "--format", "json").communicate(
            timeout=60)[0]), scrape(config, log)
        assert len(status["workers"]) == 2 and victim.pid not in {w["pid"] for w in status["workers"]}
        assert status["last_takeover"]["dead_worker"] is not None and status["takeovers"] == takeovers(log)
        assert families["news_monitor_workers"].samples[0].value == 2
        assert families["news_monitor_worker_takeovers"].samples[0].value == status["takeovers"]
        _, refused = beside.communicate(timeout=60)
        assert beside.returncode == 1
        assert one_line(refused, message_only=True) == REFUSE_RUN
        wait_for(lambda: time.time() - started >= RUN, RUN + 5, step=0.5)  # every first poll was before
        site.frozen_at = time.time()  # publish nothing more; let every feed be polled once more
        time.sleep(INTERVAL + 2)
        codes = workers.stop()
        assert codes.count(0) == 2, workers.output()  # the two survivors drained and exited cleanly
    finally:
        workers.stop()
        site.close()

    with log.engine.connect() as conn:
        taken = {lock.removeprefix("feed:") for (lock,) in conn.execute(text("SELECT lock FROM queue_takeovers"))
                 if lock and lock.startswith("feed:")}
    assert taken, "the killed worker held a poll: it must have been taken over"
    affected = {int(name.removeprefix("f")) for name in taken}
    polls = polls_by_feed(log)
    assert set(polls) == set(range(FEEDS))
    for i in range(FEEDS):
        hits, times = site.hits[i], polls[i]
        assert min(gaps(times)) >= INTERVAL - 0.01, f"f{i} polled twice within one interval: {gaps(times)}"
        # the server's clock sees each request a little after the poll began; never a whole interval early
        assert min(gaps(hits)) >= INTERVAL - 0.5, f"f{i}: server hits {gaps(hits)}"
        if i in affected:
            assert len(hits) - len(times) in (0, 1), f"f{i}: {len(hits)} hits, {len(times)} polls"
            around = [g for a, g in zip(times, gaps(times), strict=False) if a <= killed_at + 1]
            assert max(around) <= TAKEOVER + INTERVAL, f"f{i} waited {max(around):.1f}s after the kill"
        else:
            assert len(hits) == len(times), f"f{i}: {len(hits)} hits, {len(times)} polls"
            first = times[0]
            in_run = [t for t in times if t < first + RUN]
            assert 11 <= len(in_run) <= 13, f"f{i}: {len(in_run)} polls in its first {RUN:g}s: {gaps(times)}"

    discovered = Counter()
    streams_done = set()
    for event in log.read(types=[ev.ARTICLE_DISCOVERED, ev.ARTICLE_EXTRACTED, ev.EXTRACTION_FAILED]):
        if event.type == ev.ARTICLE_DISCOVERED:
            discovered[(event.stream, event.data["url"])] += 1
        else:
            streams_done.add(event.stream)
    urls = Counter(url for _, url in discovered)
    published = {site.link(i, k) for i in range(FEEDS) for k in site.published(i)}
    assert set(urls) == published
    assert max(urls.values()) == 1 and max(discovered.values()) == 1  # each entry exactly once
    assert {stream for stream, _ in discovered} <= streams_done  # and never half a batch

    issued = [e.data["scheduled_for"] for e in log.read(types=[ev.DIGEST_ISSUED])]
    assert issued and len(issued) == len(set(issued))
    attempts = re.findall(r"issued digest (\S+):|digest (\S+) was issued already", workers.output(full=True))
    assert len(attempts) == len(issued), attempts  # each slot was run by one worker, not deduplicated after
    log.close()


@pytest.mark.postgres
def test_a_second_run_daemon_and_a_worker_beside_a_run_refuse_in_one_line(postgres_url: str, tmp_path: Path) -> None:
    """One coordinator per database: ``run`` holds the coordination lock exclusive, so a second ``run`` and a
    worker both refuse at start, and the first one goes on polling alone."""
    site = Site(3, every=10.0)
    config = fleet_config(tmp_path, postgres_url, site, 3)
    EventLog.open(postgres_url, migrate=True).close()
    first = command(config, "run")
    try:
        assert wait_for(lambda: len(site.hits) == 3, 60)
        second, worker = command(config, "run"), command(config, "worker")
        _, second_err = second.communicate(timeout=60)
        _, worker_err = worker.communicate(timeout=60)
        assert (second.returncode, one_line(second_err, message_only=True)) == (1, REFUSE_SECOND_RUN)
        assert (worker.returncode, one_line(worker_err, message_only=True)) == (1, REFUSE_WORKER)
        assert first.poll() is None
    finally:
        first.terminate()
        first.communicate(timeout=30)
        site.close()
    assert first.returncode == 0


def test_a_worker_on_sqlite_refuses_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = Site(1)
    try:
        config = fleet_config(tmp_path, f"sqlite:///{tmp_path / 'log.sqlite3'}", site, 1)
        code, _, err = cli(capsys, "--config", str(config), "worker")
    finally:
        site.close()
    assert code == 2
    assert one_line(err, message_only=True).startswith("news-monitor worker needs PostgreSQL")
    assert not (tmp_path / "log.sqlite3").exists()  # refused before anything was opened


def view_tables(log: EventLog) -> dict[str, list[dict]]:
    from sqlalchemy import select

    from monitor.views.reducers import VIEWS

    with log.engine.connect() as conn:
        return {view.table.name: sorted((dict(r) for r in conn.execute(select(view.table)).mappings()), key=repr)
                for view in VIEWS.values()}


@pytest.mark.postgres
def test_soak_workers_killed_and_restarted_at_random_on_a_churning_site(postgres_url: str, tmp_path: Path) -> None:
    """20 feeds publishing every second (with edits, reissued guids and 503s that come and go), polled every 2 s
    by 3 workers of which one is SIGKILLed and replaced at random 10 times; halfway, the config is saved with
    one feed removed and one added. At the end every entry the configured feeds published is in the log
    exactly once, each with its whole batch, the removed feed is no longer polled, and every view equals its
    rebuild."""
    import random

    from monitor.views.log import projections

    rng = random.Random(17)
    feeds = 20
    site = Site(feeds, every=1.0, churn=True)
    path = tmp_path / "monitor.toml"

    def save(indexes: range) -> None:
        body = config_text(postgres_url, [{"name": f"f{i}", "url": site.url(i), "interval": "2s",
                                           "fetch_full_text": False} for i in indexes],
                           scheduler={"jitter": "0", "min_interval": "1s", "takeover": "6s", "max_backoff": "4s",
                                      "max_per_host": 32, "shutdown_grace": "5s"})
        (tmp_path / "next.toml").write_text(body, encoding="utf-8")
        (tmp_path / "next.toml").replace(path)  # one atomic save

    save(range(feeds))
    reloaded = 0.0
    EventLog.open(postgres_url, migrate=True).close()
    log = EventLog.open(postgres_url)
    workers = Workers(path, tmp_path)
    kills = 0
    try:
        for _ in range(3):
            workers.start()
        assert wait_for(lambda: len(site.hits) == feeds, 90), workers.output()
        while kills < 10:
            time.sleep(rng.uniform(2.0, 5.0))
            workers.kill(rng.choice(workers.alive()))
            kills += 1
            workers.start()
            if kills == 5:  # hot reload, halfway: f0 is removed and f20 added, in every worker's schedule
                save(range(1, feeds + 1))
                reloaded = time.time()
        site.frozen_at = time.time()  # publish nothing more; wait for a good poll of every feed after that

        def all_polled_after_freeze() -> bool:
            seen = {e.data["feed"] for e in log.read(types=[ev.FEED_POLLED], after=0)
                    if e.occurred_at.timestamp() > site.frozen_at and e.data.get("status") == "ok"}
            return seen >= {f"f{i}" for i in range(1, feeds + 1)}

        assert wait_for(all_polled_after_freeze, 60, step=1.0), workers.output()
        workers.stop()
    finally:
        workers.stop()
        site.close()
    assert kills == 10
    assert not [t for t in site.hits[0] if t > reloaded + 3], "f0 was polled after its removal reached the workers"
    assert site.hits[feeds]  # and f20 was polled once added

    discovered: Counter[str] = Counter()
    done = set()
    for event in log.read(types=[ev.ARTICLE_DISCOVERED, ev.ARTICLE_EXTRACTED, ev.EXTRACTION_FAILED]):
        if event.type == ev.ARTICLE_DISCOVERED:
            discovered[event.data["url"]] += 1
            done.add(("discovered", event.stream))
        else:
            done.add(("text", event.stream))
    published = {site.link(i, k) for i in range(1, feeds + 1) for k in site.published(i)}
    removed = {site.link(0, k) for k in site.published(0)}
    assert published <= set(discovered) <= published | removed
    assert max(discovered.values()) == 1
    assert {s for kind, s in done if kind == "discovered"} <= {s for kind, s in done if kind == "text"}

    views = projections(log)
    views.catch_up()
    live = view_tables(log)
    views.rebuild()
    assert view_tables(log) == live
    log.close()
