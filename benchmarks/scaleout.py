"""Scale-out of workers on PostgreSQL (#17): the cycle time with 1, 2 and 4 workers, and PostgreSQL's share.

    python benchmarks/scaleout.py [--feeds 2000] [--latency 0.2] [--concurrency 8] [--workers 1,2,4]
    python benchmarks/scaleout.py --memory [--articles 10000]

Setup: ``--feeds`` RSS feeds of 5 entries each, generated here, served from 127.0.0.1 by a threaded HTTP server
that answers each request after ``--latency`` seconds (the server's think time, the I/O a worker waits on),
with a strong ``ETag`` and a 304 on a matching ``If-None-Match``. For each worker count, in a fresh PostgreSQL
schema: the workers (``news-monitor worker --concurrency C``, the same C for each) start on a config with no
feed; once all are registered, the config is saved with every feed (``fetch_full_text = false``, interval 1 h),
and each worker's hot reload hands them to the queue:

1. the first cycle: from the save until every feed has been polled (fetched, parsed, each entry tagged and
   appended), timed on the server's side (the last feed's first hit) and in the log (the last FeedPolled);
2. the steady cycle: every feed's job is deferred at once (``force``, as a config change does), and every
   feed answers 304: the I/O-bound load of the target, from the deferral to the last 304.

Target: 4 workers' steady cycle >= 3x faster than 1 worker's, at the same concurrency per worker. A floor is
printed beside each: feeds x latency / (workers x C), the cycle if only the server's latency counted. The
queue's share: each worker logs, when it stops, procrastinate's queries and their time (its connector counts
them); printed per poll, and as a share of the workers' wall time over the run.

``--memory``: one worker, 50 feeds publishing tiny entries fast; the worker's RSS when the log holds 1,000
articles and when it holds ``--articles`` (target: within 20%).

PostgreSQL comes from NEWS_MONITOR_BENCH_DATABASE_URL, else NEWS_MONITOR_TEST_DATABASE_URL, else
postgresql+psycopg://postgres@127.0.0.1:5432/test. The load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import tomlkit
from report import Report  # benchmarks/report.py: run as a script, this folder is on the path
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class FeedSite:
    """``/f/<i>.xml``: feed i; ``every`` > 0 makes each feed publish an entry every ``every`` seconds (and keep
    its newest 20), else its 5 entries never change. Counts each feed's hits and 304s."""

    def __init__(self, feeds: int, latency: float, every: float = 0.0) -> None:
        self.feeds, self.latency, self.every = feeds, latency, every
        self.t0 = time.time()
        self.first_hit: dict[int, float] = {}
        self.last_304: dict[int, float] = {}
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                site.answer(self)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 1024
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def body(self, i: int) -> bytes:
        count = int((time.time() - self.t0) / self.every) + 1 if self.every else 5
        items = "".join(
            f"<item><title>Feed {i} item {k}</title><link>{self.base}/a/{i}/{k}</link><guid>{i}-{k}</guid>"
            f"<pubDate>{format_datetime(dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=k), usegmt=True)}"
            f"</pubDate><description>Item {k}.</description></item>" for k in range(max(0, count - 20), count))
        return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {i}</title><link>{self.base}/</link>'
                f"<description>d</description>{items}</channel></rss>").encode()

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        i = int(request.path.rsplit("/", 1)[-1].removesuffix(".xml"))
        body = self.body(i)
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        time.sleep(self.latency)
        now = time.time()
        with self.lock:
            self.first_hit.setdefault(i, now)
        if request.headers.get("If-None-Match") == etag:
            with self.lock:
                self.last_304[i] = now
            request.send_response(304)
            request.send_header("ETag", etag)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        request.send_response(200)
        request.send_header("Content-Type", "application/rss+xml")
        request.send_header("ETag", etag)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_config(path: Path, url: str, feeds: list[str], concurrency: int) -> None:
    document = tomlkit.parse((REPO / "config" / "monitor.toml").read_text(encoding="utf-8"))
    document["storage"]["url"] = url
    document["network"]["allow_private_addresses"] = True
    document["scheduler"].update({"jitter": "0", "max_workers": concurrency, "max_per_host": concurrency,
                                  "takeover": "30s", "shutdown_grace": "10s"})
    table = tomlkit.aot()
    for i, feed in enumerate(feeds):
        table.append({"name": f"f{i}", "url": feed, "interval": "1h", "fetch_full_text": False})
    document["feeds"] = table
    for topic in document["topics"]:
        topic["reference_documents"] = [str(REPO / "config" / "reference" / "*.md")]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tomlkit.dumps(document), encoding="utf-8")
    tmp.replace(path)  # one atomic save, as an editor's rename


class Schema:
    def __init__(self, base: str) -> None:
        self.name = f"nm_scale_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(base)
        with self.admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.name}"'))
        self.url = make_url(base).update_query_dict({"options": f"-csearch_path={self.name}"}).render_as_string(
            hide_password=False)
        self.engine = create_engine(self.url)

    def scalar(self, sql: str) -> Any:
        with self.engine.connect() as conn:
            return conn.scalar(text(sql))

    def drop(self) -> None:
        self.engine.dispose()
        with self.admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self.admin.dispose()


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def start_workers(config: Path, folder: Path, count: int, concurrency: int) -> list[tuple[subprocess.Popen, Path]]:
    procs = []
    for n in range(count):
        out = folder / f"worker-{n}.log"
        procs.append((subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "worker",
                                        "--concurrency", str(concurrency)], stdout=out.open("wb"),
                                       stderr=subprocess.STDOUT, env=env(), cwd=REPO), out))
    return procs


def stop_workers(procs: list[tuple[subprocess.Popen, Path]]) -> tuple[int, float, int]:
    """SIGTERM each; (queue queries, their seconds, polls) summed from the workers' last lines."""
    for proc, _ in procs:
        proc.send_signal(signal.SIGTERM)
    queries = polls = 0
    seconds = 0.0
    for proc, out in procs:
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        found = re.findall(r"queue: (\d+) queries in ([\d.]+)s over (\d+) poll", out.read_text(errors="replace"))
        if found:
            queries += int(found[-1][0])
            seconds += float(found[-1][1])
            polls += int(found[-1][2])
    return queries, seconds, polls


def wait(condition: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


async def force_all(url: str, names: list[str]) -> None:
    """Defer every feed's job at once, forced, as a config change does (monitor.daemon.workers)."""
    from monitor.daemon.workers import POLL_TASK, build_app, feed_lock

    app = build_app(url)
    now = dt.datetime.now(dt.UTC)
    async with app.open_async():
        task = app.tasks[POLL_TASK]
        await app.job_manager.batch_defer_jobs_async([
            task.configure(lock=feed_lock(n), queueing_lock=feed_lock(n)).make_new_job(
                feed=n, due=now.isoformat(), force=True) for n in names])


def one_count(base: str, workers: int, args: argparse.Namespace) -> dict[str, float]:
    site = FeedSite(args.feeds, args.latency)
    schema = Schema(base)
    folder = Path(tempfile.mkdtemp(prefix=f"scaleout-{workers}-"))
    config = folder / "monitor.toml"
    names = [f"f{i}" for i in range(args.feeds)]
    urls = [f"{site.base}/f/{i}.xml" for i in range(args.feeds)]
    procs: list[tuple[subprocess.Popen, Path]] = []
    try:
        from storage.eventlog import EventLog

        EventLog.open(schema.url, migrate=True).close()
        write_config(config, schema.url, [], args.concurrency)
        began = time.monotonic()
        procs = start_workers(config, folder, workers, args.concurrency)
        if not wait(lambda: schema.scalar("SELECT count(*) FROM queue_workers") == workers, 120):
            raise SystemExit("the workers did not start: " + procs[0][1].read_text()[-2000:])
        started = time.monotonic() - began
        time.sleep(1.5)  # every worker's watcher is up
        saved = time.time()
        write_config(config, schema.url, urls, args.concurrency)
        if not wait(lambda: len(site.first_hit) == args.feeds, 1800, 0.2):
            raise SystemExit(f"first cycle incomplete: {len(site.first_hit)} of {args.feeds} feeds")
        first_server = max(site.first_hit.values()) - saved
        polled = "SELECT count(*) FROM events WHERE type = 'FeedPolled'"
        wait(lambda: schema.scalar(polled) >= args.feeds, 300, 0.2)
        first_log = time.time() - saved
        forced = time.time()
        asyncio.run(force_all(schema.url, names))
        if not wait(lambda: len(site.last_304) == args.feeds, 1800, 0.05):
            raise SystemExit(f"steady cycle incomplete: {len(site.last_304)} of {args.feeds} feeds answered 304")
        steady = max(site.last_304.values()) - forced
        wall = time.monotonic() - began
        queries, seconds, polls = stop_workers(procs)
        procs = []
        return {"start": started, "first": first_server, "first_log": first_log, "steady": steady,
                "queries": queries, "queue_seconds": seconds, "polls": polls, "wall": wall * workers}
    finally:
        if procs:
            stop_workers(procs)
        site.close()
        schema.drop()


def memory(base: str, args: argparse.Namespace) -> Report:
    report = Report("worker memory (one worker, tiny entries, fetch_full_text = false)")
    site = FeedSite(50, 0.0, every=0.05)
    schema = Schema(base)
    folder = Path(tempfile.mkdtemp(prefix="scaleout-memory-"))
    config = folder / "monitor.toml"
    write_config(config, schema.url, [f"{site.base}/f/{i}.xml" for i in range(50)], 4)
    document = tomlkit.parse(config.read_text())
    document["scheduler"]["min_interval"] = "1s"
    for feed in document["feeds"]:
        feed["interval"] = "1s"
    config.write_text(tomlkit.dumps(document))
    from storage.eventlog import EventLog

    EventLog.open(schema.url, migrate=True).close()
    procs = start_workers(config, folder, 1, 4)
    articles = "SELECT count(*) FROM events WHERE type = 'ArticleDiscovered'"

    def rss() -> int:
        for line in Path(f"/proc/{procs[0][0].pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    try:
        readings = {}
        for mark in (1000, args.articles):
            if not wait(lambda m=mark: (schema.scalar(articles) or 0) >= m, 1800, 0.5):
                raise SystemExit(f"the log did not reach {mark} articles")
            readings[mark] = rss()
        ratio = readings[args.articles] / readings[1000]
        report.add("RSS after 1,000 articles", f"{readings[1000] / 2**20:.0f} MB")
        report.add(f"RSS after {args.articles:,} articles", f"{readings[args.articles] / 2**20:.0f} MB")
        report.add("ratio", f"{ratio:.2f}", "<= 1.20", ratio <= 1.20)
    finally:
        stop_workers(procs)
        site.close()
        schema.drop()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--articles", type=int, default=10_000)
    args = parser.parse_args()
    base = os.environ.get("NEWS_MONITOR_BENCH_DATABASE_URL") or os.environ.get("NEWS_MONITOR_TEST_DATABASE_URL") \
        or DEFAULT_PG
    print(f"load average at start: {os.getloadavg()}")
    if args.memory:
        report = memory(base, args)
    else:
        counts = [int(n) for n in args.workers.split(",")]
        results = {n: one_count(base, n, args) for n in counts}
        report = Report(f"scale-out: {args.feeds} feeds, {args.latency * 1000:g} ms latency each, "
                        f"concurrency {args.concurrency} per worker")
        one = results[counts[0]]
        for n, r in results.items():
            floor = args.feeds * args.latency / (n * args.concurrency)
            report.add(f"{n} worker(s): start-up", f"{r['start']:.1f} s")
            report.add(f"{n} worker(s): first cycle (server / log)", f"{r['first']:.1f} / {r['first_log']:.1f} s",
                       f"floor {floor:.1f} s")
            report.add(f"{n} worker(s): steady cycle (304)", f"{r['steady']:.1f} s", f"floor {floor:.1f} s")
            if n != counts[0]:
                report.add(f"{n} worker(s): first cycle speed-up", f"{one['first'] / r['first']:.2f}x",
                           f"(information; {n / counts[0]:g}x linear)")
                ratio = one["steady"] / r["steady"]
                report.add(f"{n} worker(s): steady cycle speed-up", f"{ratio:.2f}x",
                           ">= 3x" if n == 4 else f"({n / counts[0]:g}x linear)",
                           ratio >= 3 if n == 4 else None)
            polls = max(r["polls"], 1)
            report.add(f"{n} worker(s): queue per poll", f"{r['queries'] / polls:.1f} queries, "
                       f"{r['queue_seconds'] / polls * 1000:.1f} ms",
                       f"{r['queue_seconds'] / r['wall'] * 100:.1f}% of the workers' wall time")
    report.print()
    print(f"load average at end: {os.getloadavg()}")
    return 1 if report.misses() else 0


if __name__ == "__main__":
    sys.exit(main())
