"""Polling throughput of the real pipeline, a first full cycle and a steady cycle, against the bare floor.

    python benchmarks/polling.py [--quick] [--feeds 1000] [--entries 20] [--workers 4] [--runs 1] [--profile]
                                 [--via poll|run|both] [--steady 5]

Setup: ``--feeds`` RSS 2.0 feeds of ``--entries`` entries each, generated here (seeded, invented news-like text;
about 1.5% of the entries are about an India–Russia summit and a few percent name only one of the two
countries, so the tagger does real work on some and rejects the rest), served from 127.0.0.1 by a small
asyncio HTTP/1.1 server (keep-alive, pre-rendered bodies, strong ``ETag`` and ``Last-Modified``, 304 on a
matching ``If-None-Match``, or on ``If-Modified-Since`` when no ``If-None-Match`` is sent) in a process of its
own, so that it never shares a GIL with what is measured.

Three kinds of process are measured, each started fresh so that each pays the same interpreter start-up:
1. the floor: one ``httpx.Client`` used from a ``ThreadPoolExecutor`` of ``--workers`` threads, GETting every
   feed URL once and running ``feedparser.parse`` on each body (first cycle), then GETting them again with
   ``If-None-Match`` (steady cycle: every feed answers 304, nothing to parse);
2. the peer, as small scripts and rss2email-style tools poll: a loop of ``feedparser.parse(url)`` (feedparser
   fetching each feed itself, one at a time; steady cycles pass the ETag back), printed beside ours as a ratio;
3. ours, the daemon: ``Monitor(config).poll()`` (``--via poll``, the default: what ``news-monitor poll`` does),
   or the dispatcher of ``news-monitor run`` (``--via run``: a ``Daemon`` started as ``run`` starts it, every
   feed due at start for the first cycle, and every feed moved to "now" for each steady cycle, as a reload
   moves a feed; a cycle ends when every feed's poll has ended), or both (``--via both``: floor / poll / floor /
   run / floor ...), on a config built with ``config_from_dict``: the shipped
   topic and reference documents of ``config/monitor.toml``, the generated feeds with ``fetch_full_text =
   false``, a fresh SQLite log in a temporary folder, ``allow_private_addresses = true``, ``[scheduler]
   max_workers = --workers`` and ``max_per_host = --workers`` (every feed is on the one loopback host, and
   the floor does not limit per host either). A first cycle (every entry new: parsed, tagged, appended) and
   ``--steady`` steady cycles (every feed 304) are timed; start-up (imports, opening the log, fitting the
   tagger) is timed apart, as information.
They alternate, floor / ours / floor / ... / floor (``--runs`` daemons, one more floor), so that drift in the
machine's load weighs on both sides: each daemon run is divided by the mean of the floors run just before and
just after it, and the figure is the median of those ratios (steady cycles: the median of each process's
``--steady`` cycles first). Targets: steady cycle <= 1.5x the floor, first cycle <= 2x, and the daemon's peak
RSS (``ru_maxrss`` at the end of its process, imports included) <= 200 MB. Beside the peak: the peak at the end
of start-up (imports, log, tagger), the difference (what polling added), and the RSS left after the cycles.

10,000 feeds (#19): ``--feeds 10000 --entries 2 --steady 2 --via both`` runs in a few minutes here; at 20
entries a first cycle appends 200,000 articles, which is the eventlog benchmark's business, not the scheduler's.

The outcomes are checked, on both sides: every feed ok with every entry new (first cycle), every feed
not_modified with nothing new (steady cycle). A run where anything failed stops the benchmark with the reason,
because timing failures measures nothing.

``--profile`` adds one more daemon run, untimed, whose first and steady cycles are profiled with cProfile, a
profiler per worker thread plus the main thread, merged, on each thread's CPU time (``time.thread_time``: a
thread waiting for the network, a lock or the GIL costs nothing): the top 20 functions by own time, then the
project's own functions (``monitor/``, ``storage/``) by self cost: own time plus the library code they call
directly, so that each stage of the pipeline shows what it costs; ``--profile-clock wall`` measures
wall-clock time instead (less overhead, waits included). Timings are wall-clock on a possibly shared machine:
the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import tracemalloc
from dataclasses import dataclass
from email.utils import format_datetime, formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from report import Report  # benchmarks/report.py: run as a script, this folder is on the path

REPO = Path(__file__).resolve().parents[1]
SHIPPED_CONFIG = REPO / "config" / "monitor.toml"

STEADY_TARGET = 1.2  # ours / floor (#19; was 1.5)
FIRST_TARGET = 1.0  # with the second core (#19; was 2.0)
RSS_TARGET_MB = 200.0
CHILD_TIMEOUT = 900  # seconds, per measured process

# -- the feeds --------------------------------------------------------------------------------------------

# A made-up vocabulary: sentences are random runs of it, with invented names and places in between.
WORDS = """
the a of to in and for on with at by from that this after before while over under about against between
said says told announced reported confirmed expected planned agreed rejected warned called added noted
officials government ministry council city region state market markets prices energy trade agreement report
spokesperson police court election vote voters parliament budget plan policy company companies shares
investors bank banks rates inflation growth jobs workers union strike port weather storm rain flooding
drought harvest farmers exports imports oil gas power grid network project school schools students teachers
hospital doctors patients health water roads bridge railway airport team match season coach players league
final win loss record crowd stadium festival film music book week month year today yesterday morning evening
night early late first second third last next new old major local national regional international foreign
domestic public private several many few increase decrease rise fall jump drop cut boost support pressure
concern risk demand supply cost costs plant factory tax taxes housing rent fuel transport tourism museum
""".split()
SYLLABLES = "ka ri to ma ne sa lo vi da ru pe ko na mi zu la te ho bi ga".split()
SECTIONS = ("world", "business", "politics", "science", "sport", "culture", "local", "opinion")
# Sentences that name one country only: relations news, never a summit mention.
ONE_SIDE = (
    "India's exports of engineering goods rose for a third month, the commerce ministry said.",
    "Officials in New Delhi said the monsoon had reached most of northern India by the end of the week.",
    "Russia's central bank left its key rate unchanged, citing persistent inflation.",
    "Moscow city authorities said the new metro line would open to passengers next year.",
    "The Indian cricket team named two uncapped players for the tour, the board said.",
    "Russian wheat exports are expected to fall this season after a dry spring.",
)
# About the summit: some match the shipped rule (leader or country of one side, the other side, a meeting
# word or "summit"), one is a phone call (excluded by the rule's NOT).
SUMMIT = (
    "Prime Minister Narendra Modi and President Vladimir Putin held talks in Moscow ahead of the annual "
    "India-Russia summit, officials said.",
    "External Affairs Minister S. Jaishankar met Russian Foreign Minister Sergey Lavrov in New Delhi to prepare "
    "the India-Russia summit next month.",
    "The Kremlin said Putin would visit India in December for the annual summit with Modi.",
    "India and Russia are expected to sign agreements on energy and trade at the summit, a senior official said.",
    "Modi spoke by phone with Putin on Tuesday about trade and energy, the Indian foreign ministry said.",
)
SUMMIT_TITLES = (
    "Modi and Putin to meet at India-Russia summit",
    "Jaishankar meets Lavrov ahead of annual summit",
    "Putin to visit India for summit in December",
    "India, Russia eye energy deals at summit",
)


@dataclass
class Feed:
    body: bytes
    etag: str
    last_modified: str  # an HTTP-date
    modified: dt.datetime


@dataclass
class Corpus:
    feeds: list[Feed]
    summit_entries: int  # entries carrying a summit sentence
    one_side_entries: int


def _name(rng: random.Random, parts: int = 3) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(10, 24))]
    for _ in range(rng.randint(0, 2)):
        words.insert(rng.randrange(len(words)), _name(rng, rng.randint(2, 4)))
    return " ".join(words).capitalize() + "."


def render_feeds(port: int, count: int, entries: int, seed: int, now: dt.datetime) -> Corpus:
    """The feeds' documents. Entry j of feed i links to ``/article/i/j``; dates go back over the past days."""
    rng = random.Random(seed)
    feeds: list[Feed] = []
    summit = one_side = 0
    base = f"http://127.0.0.1:{port}"
    for i in range(count):
        outlet, section = _name(rng), rng.choice(SECTIONS)
        items: list[str] = []
        published = now - dt.timedelta(minutes=rng.randint(5, 90))
        newest = published
        for j in range(entries):
            sentences = [_sentence(rng) for _ in range(rng.randint(2, 5))]
            title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 10))).capitalize()
            roll = rng.random()
            if roll < 0.015:
                summit += 1
                sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(SUMMIT))
                if rng.random() < 0.5:
                    title = rng.choice(SUMMIT_TITLES)
            elif roll < 0.06:
                one_side += 1
                sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(ONE_SIDE))
            if rng.random() < 0.5:  # half the summaries are HTML, as many feeds send them
                description = "".join(f"<p>{s}</p>" for s in sentences)
            else:
                description = " ".join(sentences)
            items.append(
                f"<item><title>{escape(title)}</title><link>{base}/article/{i}/{j}</link>"
                f'<guid isPermaLink="false">urn:bench:{outlet.lower()}:{i}:{j}</guid>'
                f"<pubDate>{format_datetime(published)}</pubDate><category>{section}</category>"
                f"<description>{escape(description)}</description></item>")
            published -= dt.timedelta(minutes=rng.randint(60, 480))  # 20 entries span a few days
        body = (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
                f"<title>{outlet} {section.capitalize()}</title><link>{base}/{section}/</link>"
                f"<description>{outlet} news: {section}</description><language>en</language>"
                f"<lastBuildDate>{format_datetime(newest)}</lastBuildDate>{''.join(items)}</channel></rss>").encode()
        feeds.append(Feed(body, f'"{hashlib.sha256(body).hexdigest()[:24]}"', format_datetime(newest, usegmt=True),
                          newest.replace(microsecond=0)))
    return Corpus(feeds, summit, one_side)


# -- the server (its own process) --------------------------------------------------------------------------

class FeedServer(asyncio.Protocol):
    """A minimal HTTP/1.1 origin: GET/HEAD of ``/feed/<i>.xml``, keep-alive, conditional requests (RFC 9110
    §13.1.2: If-None-Match, weak comparison; §13.1.3: If-Modified-Since only when no If-None-Match was sent)."""

    feeds: list[Feed] = []
    counts: dict[int, int] = {}
    _date = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4:]
            close = self.respond(head)
            if close:
                self.transport.close()
                return
        if len(self.buffer) > 65536:
            self.transport.close()

    @classmethod
    def http_date(cls) -> str:
        now = int(time.time())
        if cls._date[1] != now:
            cls._date = (formatdate(now, usegmt=True), now)
        return cls._date[0]

    def respond(self, head: str) -> bool:
        """Write the response to one request; True when the connection is to be closed after it."""
        lines = head.split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self.send(400, [], b"")
            return True
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
        feed = None
        if target.startswith("/feed/") and target.endswith(".xml"):
            index = target[6:-4]
            if index.isdigit() and int(index) < len(self.feeds):
                feed = self.feeds[int(index)]
        if method not in ("GET", "HEAD"):
            self.send(405, [("Allow", "GET, HEAD")], b"", close)
            return close
        if feed is None:
            self.send(404, [("Content-Type", "text/plain")], b"not found\n", close)
            return close
        validators = [("ETag", feed.etag), ("Last-Modified", feed.last_modified)]
        if self.not_modified(feed, headers):
            self.send(304, validators, b"", close)
        else:
            self.send(200, [("Content-Type", "application/rss+xml; charset=utf-8"), *validators],
                      b"" if method == "HEAD" else feed.body, close, length=len(feed.body))
        return close

    @staticmethod
    def not_modified(feed: Feed, headers: dict[str, str]) -> bool:
        if "if-none-match" in headers:
            tags = {tag.strip().removeprefix("W/") for tag in headers["if-none-match"].split(",")}
            return "*" in tags or feed.etag in tags
        since = headers.get("if-modified-since")
        if not since:
            return False
        if since == feed.last_modified:
            return True
        try:
            return feed.modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False

    def send(self, status: int, headers: list[tuple[str, str]], body: bytes, close: bool = False,
             length: int | None = None) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        reason = {200: "OK", 304: "Not Modified", 400: "Bad Request", 404: "Not Found",
                  405: "Method Not Allowed"}[status]
        lines = [f"HTTP/1.1 {status} {reason}", f"Date: {self.http_date()}", "Server: nm-bench", *(
            f"{name}: {value}" for name, value in headers)]
        if status != 304:
            lines.append(f"Content-Length: {len(body) if length is None else length}")
        if close:
            lines.append("Connection: close")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def serve(feeds: int, entries: int, seed: int) -> None:
    """Print a JSON line (port, corpus figures), serve until stdin closes, then print what was served."""
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(FeedServer, "127.0.0.1", 0, backlog=512))
    port = server.sockets[0].getsockname()[1]
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    corpus = render_feeds(port, feeds, entries, seed, now)
    FeedServer.feeds = corpus.feeds
    sizes = [len(f.body) for f in corpus.feeds]
    print(json.dumps({"port": port, "summit_entries": corpus.summit_entries,
                      "one_side_entries": corpus.one_side_entries, "bytes": sum(sizes),
                      "mean_body": statistics.mean(sizes)}), flush=True)
    cpu = time.process_time()
    stop = asyncio.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True).start()
    loop.run_until_complete(stop.wait())
    server.close()
    print(json.dumps({"counts": FeedServer.counts, "cpu": time.process_time() - cpu}), flush=True)


def feed_urls(port: int, count: int) -> list[str]:
    return [f"http://127.0.0.1:{port}/feed/{i}.xml" for i in range(count)]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Failed(Exception):
    """A measured run did not do what it should: its timings mean nothing."""


# -- the floor (its own process) ---------------------------------------------------------------------------

def floor(port: int, feeds: int, entries: int, workers: int, steady_runs: int) -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    import feedparser
    import httpx

    urls = feed_urls(port, feeds)
    etags: dict[str, str] = {}
    result: dict[str, Any] = {"steady": [], "steady_cpu": []}
    with httpx.Client(timeout=30) as client:
        def first(url: str) -> tuple[int, int, bool]:
            response = client.get(url)
            etags[url] = response.headers.get("etag", "")
            parsed = feedparser.parse(response.content)
            return response.status_code, len(parsed.entries), bool(parsed.bozo)

        def steady(url: str) -> int:
            return client.get(url, headers={"If-None-Match": etags[url]}).status_code

        cpu, started = cpu_seconds(), time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            outcomes = list(pool.map(first, urls))
        result["first"], result["first_cpu"] = time.perf_counter() - started, cpu_seconds() - cpu
        wrong = [(url, o) for url, o in zip(urls, outcomes, strict=True) if o != (200, entries, False)]
        if wrong:
            raise Failed(f"floor, first cycle: {len(wrong)} feed(s) not (200, {entries} entries, well-formed), "
                         f"e.g. {wrong[:3]}")
        for _ in range(steady_runs):
            cpu, started = cpu_seconds(), time.perf_counter()
            with ThreadPoolExecutor(workers) as pool:
                statuses = list(pool.map(steady, urls))
            result["steady"].append(time.perf_counter() - started)
            result["steady_cpu"].append(cpu_seconds() - cpu)
            if set(statuses) != {304}:
                raise Failed(f"floor, steady cycle: statuses {sorted(set(statuses))}, expected only 304")
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


# -- the peer: what small scripts and rss2email-style tools do (its own process) ------------------------------

def peer(port: int, feeds: int, entries: int, steady_runs: int) -> dict[str, Any]:
    """A loop of ``feedparser.parse(url)``, feedparser fetching each feed itself, one after another; steady
    cycles pass the ETag back (``etag=``), as rss2email does."""
    import feedparser

    urls = feed_urls(port, feeds)
    result: dict[str, Any] = {"steady": [], "steady_cpu": []}
    etags: dict[str, str] = {}
    cpu, started = cpu_seconds(), time.perf_counter()
    for url in urls:
        parsed = feedparser.parse(url)
        if len(parsed.entries) != entries:
            raise Failed(f"peer, first cycle: {url} gave {len(parsed.entries)} entries, expected {entries}")
        etags[url] = parsed.get("etag", "")
    result["first"], result["first_cpu"] = time.perf_counter() - started, cpu_seconds() - cpu
    for _ in range(steady_runs):
        cpu, started = cpu_seconds(), time.perf_counter()
        statuses = {feedparser.parse(url, etag=etags[url]).get("status") for url in urls}
        result["steady"].append(time.perf_counter() - started)
        result["steady_cpu"].append(cpu_seconds() - cpu)
        if statuses != {304}:
            raise Failed(f"peer, steady cycle: statuses {sorted(statuses, key=str)}, expected only 304")
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


# -- ours, the daemon (its own process) --------------------------------------------------------------------

def daemon_config(port: int, feeds: int, workers: int, folder: str) -> Any:
    """The product's config: the shipped topic and references, our feeds, storage and network."""
    from monitor.config import SchedulerSettings, config_from_dict, load_config

    shipped = load_config(SHIPPED_CONFIG)
    scheduler: dict[str, Any] = {"max_workers": workers}
    if "max_per_host" in SchedulerSettings.model_fields:
        scheduler["max_per_host"] = workers
    return config_from_dict({
        "storage": {"url": f"sqlite:///{Path(folder) / 'log.sqlite3'}"},
        "network": {"allow_private_addresses": True},
        "scheduler": scheduler,
        "feeds": [{"name": f"feed-{i}", "url": url, "fetch_full_text": False}
                  for i, url in enumerate(feed_urls(port, feeds))],
        # Relative reference paths resolve against the shipped file's folder, as they do for the daemon.
        "topics": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in shipped.topics],
    }, source=shipped.source)


def check_cycle(name: str, outcomes: list[Any], feeds: int, entries: int) -> dict[str, Any]:
    """Counts of the cycle's outcomes; raises Failed unless every feed did what the cycle expects."""
    statuses: dict[str, int] = {}
    for outcome in outcomes:
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    counts = {"statuses": statuses, "new": sum(o.new_articles for o in outcomes),
              "mentions": sum(o.mentions for o in outcomes),
              "revised": sum(getattr(o, "revised", 0) for o in outcomes),
              "entries_seen": sum(o.entries_seen for o in outcomes)}
    if name == "first":
        expected = {"statuses": {"ok": feeds}, "new": feeds * entries, "revised": 0, "entries_seen": feeds * entries}
    else:
        expected = {"statuses": {"not_modified": feeds}, "new": 0, "mentions": 0, "revised": 0, "entries_seen": 0}
    wrong = {key: (counts[key], value) for key, value in expected.items() if counts[key] != value}
    if wrong:
        wanted = "ok" if name == "first" else "not_modified"
        bad = [f"{o.feed}: {o.status} {o.reason or ''} {o.message or ''}".strip() for o in outcomes
               if o.status != wanted][:5]
        raise Failed(f"ours, {name} cycle: " + "; ".join(f"{k} {got} (expected {want})" for k, (got, want)
                                                          in wrong.items()) + (f"; e.g. {bad}" if bad else ""))
    return counts


def rss_now_mb() -> float:
    """The process's resident set now (VmRSS), not its peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class DaemonCycles:
    """Cycles through ``news-monitor run``'s path: a Daemon (its dispatcher, scheduler and reloader) started as
    ``run`` starts it, with every feed due at start (the first cycle); each steady cycle moves every feed to
    "now", as a reload moves a feed. A cycle ends when every feed's poll has ended and the feed is back in the
    dispatcher's table. The outcomes are caught on their way out of ``Monitor.refresh_feed``."""

    def __init__(self, monitor: Any, feeds: int) -> None:
        from monitor.daemon.run import Daemon

        self.monitor, self.feeds = monitor, feeds
        self.outcomes: list[Any] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        original = monitor.refresh_feed

        def refresh_feed(*args: Any, **kwargs: Any) -> Any:
            outcome = original(*args, **kwargs)
            with self.lock:
                self.outcomes.append(outcome)
                if len(self.outcomes) >= self.feeds:
                    self.done.set()
            return outcome

        monitor.refresh_feed = refresh_feed
        self.daemon = Daemon(monitor)

    def cycle(self, number: int) -> list[Any]:
        with self.lock:
            self.outcomes, _ = [], self.done.clear()
        if number == 0:
            self.daemon.start()
        else:
            now = self.monitor.clock()
            for feed in self.monitor.config.feeds:
                self.daemon.move_feed(feed.name, now)
        if not self.done.wait(CHILD_TIMEOUT):
            raise Failed(f"ours (run), cycle {number}: {len(self.outcomes)} of {self.feeds} polls in time")
        while not self._settled():  # the last polls put their feeds back
            time.sleep(0.005)
        flush = getattr(getattr(self.daemon, "dispatcher", None), "flush", None)
        if flush is not None:  # the polls' events held for a group (#19): the cycle ends when they are written
            flush()
        return self.outcomes

    def _settled(self) -> bool:
        dispatcher = getattr(self.daemon, "dispatcher", None)
        if dispatcher is not None:
            return not dispatcher.in_flight()
        # Before #19's dispatcher (a before/after with PYTHONPATH on an older checkout): one APScheduler job per
        # feed, which moves itself to the feed's next poll after the poll.
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
        return all(job.next_run_time is None or job.next_run_time > soon for job in self.daemon.scheduler.get_jobs()
                   if job.id.startswith("feed:"))

    def close(self) -> None:
        self.daemon.stop()


def traced(title: str, top: int = 15) -> str:
    """What tracemalloc saw since start-up: the peak and what is still held, by the line that allocated it."""
    current, peak = tracemalloc.get_traced_memory()
    stats = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]).statistics("lineno")
    tracemalloc.stop()
    lines = [f"--- tracemalloc ({title}): peak {peak / 1e6:.1f} MB traced since start-up, {current / 1e6:.1f} MB "
             f"still held; the top {top} holders:"]
    for stat in stats[:top]:
        frame = stat.traceback[0]
        where = f"{_short_path(frame.filename)}:{frame.lineno}"
        lines.append(f"  {stat.size / 1e6:8.2f} MB {stat.count:>9,} blocks  {where}")
    return "\n".join(lines)


def ours(port: int, feeds: int, entries: int, workers: int, steady_runs: int, profile: str | None,
         tmpdir: str | None, via: str = "poll", trace: bool = False) -> dict[str, Any]:
    os.environ.pop("NEWS_MONITOR_DATABASE_URL", None)  # it would override [storage] url
    started = time.perf_counter()
    from monitor.pipeline import Monitor

    result: dict[str, Any] = {"steady": [], "steady_cpu": [], "profiles": {}, "via": via}
    with tempfile.TemporaryDirectory(prefix="nm-bench-poll-", dir=tmpdir) as folder:
        config = daemon_config(port, feeds, workers, folder)
        result["max_per_host"] = getattr(config.scheduler, "max_per_host", None)
        with Monitor(config) as monitor:
            monitor.tagger  # noqa: B018 - fitted at start-up, not in the first cycle
            result["startup"] = time.perf_counter() - started
            result["startup_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            dispatched = DaemonCycles(monitor, feeds) if via == "run" else None
            if trace:
                tracemalloc.start(8)
            profiler = CycleProfiler(monitor, profile) if profile else None
            for number in range(1 + steady_runs):
                name = "first" if number == 0 else "steady"
                if profiler and number <= 1:
                    profiler.start()
                cpu, started = cpu_seconds(), time.perf_counter()
                outcomes = dispatched.cycle(number) if dispatched else monitor.poll()
                seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
                if profiler and number <= 1:
                    result["profiles"][name] = profiler.stop(f"{name} cycle, {feeds:,} feeds")
                counts = check_cycle(name, outcomes, feeds, entries)
                if name == "first":
                    result.update(first=seconds, first_cpu=cpu, first_counts=counts)
                else:
                    result["steady"].append(seconds)
                    result["steady_cpu"].append(cpu)
                    result["steady_counts"] = counts
            if dispatched:
                dispatched.close()
            result["rss_now_mb"] = rss_now_mb()
            if trace:
                result["tracemalloc"] = traced(f"{via}, {feeds:,} feeds, after {1 + steady_runs} cycles")
        result["db_mb"] = sum(p.stat().st_size for p in Path(folder).iterdir()) / 1e6
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return result


class CycleProfiler:
    """cProfile of a ``Monitor.poll()``: one profiler in the main thread (the cycle's set-up, the views'
    catch-up, the last group commit) and one per worker thread (wrapping ``refresh_feed``), merged. With the
    ``cpu`` clock each measures its thread's CPU time, so waiting for the network, a lock or the GIL is not
    counted; with ``wall``, waits are counted where they happen (the main thread waiting for its workers is a
    ``lock.acquire``), and the GIL's waits fall on whatever code was running when the thread was switched out."""

    def __init__(self, monitor: Any, clock: str) -> None:
        self.monitor = monitor
        self.clock = clock
        self.original = monitor.refresh_feed
        self.profiles: dict[int, Any] = {}
        self.lock = threading.Lock()
        self.cpu = 0.0

    def _profile(self) -> Any:
        import cProfile

        with self.lock:
            ident = threading.get_ident()
            if ident not in self.profiles:
                self.profiles[ident] = cProfile.Profile(time.thread_time) if self.clock == "cpu" else cProfile.Profile()
            return self.profiles[ident]

    def start(self) -> None:
        self.profiles = {}
        original = self.original

        def refresh_feed(*args: Any, **kwargs: Any) -> Any:
            profile = self._profile()
            profile.enable()
            try:
                return original(*args, **kwargs)
            finally:
                profile.disable()

        self.monitor.refresh_feed = refresh_feed
        self.cpu = cpu_seconds()
        self._profile().enable()

    def stop(self, title: str, top: int = 20) -> str:
        import io
        import pstats

        self._profile().disable()
        cpu = cpu_seconds() - self.cpu
        self.monitor.refresh_feed = self.original
        stats = pstats.Stats(*self.profiles.values(), stream=io.StringIO())
        measured = "thread CPU" if self.clock == "cpu" else "thread wall-clock time"
        sections = [f"--- profile of our {title} ({self.clock} clock): {len(self.profiles)} threads, "
                    f"{stats.total_tt:.2f}s {measured} profiled; the process used {cpu:.2f}s CPU, profiler overhead "
                    "included (it inflates call-heavy code)"]
        sections.append(f"top {top} by own time (tottime):\n" + _stats_text(stats, top))
        sections.append(f"monitor/ and storage/, top {top} by self cost (own time + library code called directly, "
                        f"not counting other project functions):\n" + _ours_text(stats, top))
        return "\n".join(sections)


def _is_ours(path: str) -> bool:
    return path.startswith((str(REPO / "monitor"), str(REPO / "storage")))


def _short_path(path: str) -> str:
    if path.startswith(str(REPO)):
        return path[len(str(REPO)) + 1:]
    marker = "site-packages/"
    return path.split(marker, 1)[1] if marker in path else path


def _where(func: tuple[str, int, str]) -> str:
    path, line, name = func
    return f"{_short_path(path)}:{line}({name})" if path != "~" else name


def _stats_text(stats: Any, top: int) -> str:
    """The top functions by own time."""
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)
    lines = [f"  {'ncalls':>12} {'tottime':>8} {'cumtime':>8}  function"]
    for func, (calls, primitive, tottime, cumtime, _) in rows[:top]:
        ncalls = f"{calls}/{primitive}" if calls != primitive else str(calls)
        lines.append(f"  {ncalls:>12} {tottime:8.3f} {cumtime:8.3f}  {_where(func)}")
    return "\n".join(lines)


def _ours_text(stats: Any, top: int) -> str:
    """The project's functions by what they cost themselves: their own time plus the time of the library and
    standard-library code they call directly (not of other project functions, which have rows of their own)."""
    library: dict[tuple[str, int, str], float] = {}
    for callee, (*_, callers) in stats.stats.items():
        if _is_ours(callee[0]):
            continue
        for caller, edge in callers.items():
            if _is_ours(caller[0]):
                library[caller] = library.get(caller, 0.0) + edge[3]
    # A recursive function (through all(), a generator...) counts its inner calls again: capped at its cumtime.
    rows = [(func, value[0], value[2], min(library.get(func, 0.0), value[3] - value[2]), value[3])
            for func, value in stats.stats.items() if _is_ours(func[0])]
    rows.sort(key=lambda row: row[2] + row[3], reverse=True)
    lines = [f"  {'ncalls':>8} {'own':>7} {'+libs':>7} {'=self':>7} {'cumtime':>8}  function"]
    for func, calls, own, libs, cumtime in rows[:top]:
        lines.append(f"  {calls:>8} {own:7.3f} {libs:7.3f} {own + libs:7.3f} {cumtime:8.3f}  {_where(func)}")
    return "\n".join(lines)


# -- the run -------------------------------------------------------------------------------------------------

def child(role: str, args: argparse.Namespace, port: int, profile: bool = False, via: str = "poll",
          trace: bool = False) -> dict[str, Any]:
    command = [sys.executable, __file__, "--role", role, "--port", str(port), "--feeds", str(args.feeds),
               "--entries", str(args.entries), "--workers", str(args.workers), "--steady", str(args.steady),
               "--via", via]
    command += (["--profile", "--profile-clock", args.profile_clock] if profile else [])
    command += ["--tracemalloc"] if trace else []
    command += ["--tmpdir", args.tmpdir] if args.tmpdir else []
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise SystemExit(f"{role}: no result within {CHILD_TIMEOUT}s") from exc
    if done.returncode != 0:
        raise SystemExit(f"\nFAILED: the {role} process exited with {done.returncode}:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_role(args: argparse.Namespace) -> None:
    try:
        if args.role == "floor":
            result = floor(args.port, args.feeds, args.entries, args.workers, args.steady)
        elif args.role == "peer":
            result = peer(args.port, args.feeds, args.entries, args.steady)
        else:
            result = ours(args.port, args.feeds, args.entries, args.workers, args.steady,
                          args.profile_clock if args.profile else None, args.tmpdir, args.via, args.tracemalloc)
    except Failed as exc:
        print(f"{exc}", file=sys.stderr)
        raise SystemExit(3) from None
    print(json.dumps(result))


def sandwich(runs: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]],
             key: str) -> tuple[list[float], list[float], list[float]]:
    """For (daemon run, floor run just before it, floor run just after it) triples: each daemon run's figure (a
    median when the run has several), the floors' (each once), and each daemon run's over the mean of its two
    floors."""
    def figure(run: dict[str, Any]) -> float:
        return statistics.median(run[key]) if isinstance(run[key], list) else run[key]

    floors = list({id(f): f for _, before, after in runs for f in (before, after)}.values())
    return ([figure(d) for d, _, _ in runs], [figure(f) for f in floors],
            [figure(d) / statistics.mean((figure(before), figure(after))) for d, before, after in runs])


def shipped_workers() -> int:
    try:
        return int(tomllib.loads(SHIPPED_CONFIG.read_text())["scheduler"]["max_workers"])
    except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError):
        return 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--quick", action="store_true", help="A fast check: 200 feeds.")
    parser.add_argument("--feeds", type=int, help="Number of feeds (default 1,000; --quick 200).")
    parser.add_argument("--entries", type=int, default=20, help="Entries per feed (default 20).")
    parser.add_argument("--workers", type=int, default=shipped_workers(),
                        help="Polls at once on both sides: [scheduler] max_workers (default: the shipped value).")
    parser.add_argument("--runs", type=int, default=1,
                        help="Daemon runs, each between two floor runs (default 1: floor, ours, floor).")
    parser.add_argument("--steady", type=int, default=5, help="Steady cycles per process, median (default 5).")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the generated feeds.")
    parser.add_argument("--tmpdir", help="Folder for the daemon's SQLite log (default: the system temp folder).")
    parser.add_argument("--profile", action="store_true",
                        help="Also cProfile a first and a steady cycle of the daemon (an extra, untimed run).")
    parser.add_argument("--profile-clock", choices=("cpu", "wall"), default="cpu",
                        help="What --profile measures per thread: CPU time (default) or wall-clock time.")
    parser.add_argument("--no-peer", action="store_true",
                        help="Skip the peer (a serial feedparser loop: at 10,000 feeds the longest of the runs).")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="Also trace our allocations in one more run per path (untimed): the peak and the holders.")
    parser.add_argument("--via", choices=("poll", "run", "both"), default="poll",
                        help="Our path: Monitor.poll() (default), run's dispatcher, or both, each between floors.")
    parser.add_argument("--role", choices=("serve", "floor", "peer", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.feeds = args.feeds or (200 if args.quick else 1000)
    if min(args.feeds, args.entries, args.workers, args.runs, args.steady) < 1:
        parser.error("--feeds, --entries, --workers, --runs and --steady must be at least 1")
    if args.role == "serve":
        serve(args.feeds, args.entries, args.seed)
        return
    if args.role:
        run_role(args)
        return
    vias = ["poll", "run"] if args.via == "both" else [args.via]

    print(f"polling benchmark: {args.feeds:,} feeds x {args.entries} entries, {args.workers} workers, "
          f"{args.runs * len(vias)} daemon run(s) ({' and '.join(vias)}) between "
          f"{args.runs * len(vias) + 1} floor runs, {args.steady} steady cycles each; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, __file__, "--role", "serve", "--feeds", str(args.feeds),
                               "--entries", str(args.entries), "--seed", str(args.seed)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert server.stdin is not None and server.stdout is not None
    floors: list[dict[str, Any]] = []
    daemons: list[dict[str, Any]] = []  # daemon run i ran between floors i and i + 1
    profiled: dict[str, Any] | None = None
    try:
        corpus = json.loads(server.stdout.readline())
        port = corpus["port"]
        floors.append(child("floor", args, port))
        peers = [] if args.no_peer else [child("peer", args, port)]
        for _ in range(args.runs):
            for via in vias:
                daemons.append(child("ours", args, port, via=via))
                floors.append(child("floor", args, port))
        if args.profile:
            profiled = child("ours", args, port, profile=True, via=vias[-1])
        traces = [child("ours", args, port, via=via, trace=True)["tracemalloc"] for via in vias] if args.tracemalloc \
            else []
    finally:
        server.stdin.close()
        try:
            served = json.loads(server.stdout.readline() or "{}")
            server.wait(timeout=30)
        except (subprocess.TimeoutExpired, ValueError):
            server.kill()
            served = {}

    report = Report(f"{args.feeds:,} feeds x {args.entries} entries from 127.0.0.1 (asyncio server, own process; "
                    f"mean body {corpus['mean_body'] / 1024:.1f} KiB), {args.workers} workers, SQLite log")
    label = {"poll": "Monitor.poll()", "run": "run's dispatcher"}
    for via in vias:
        runs = [(d, floors[i], floors[i + 1]) for i, d in enumerate(daemons) if d["via"] == via]
        mine_runs = [d for d, _, _ in runs]
        for name, target in (("first", FIRST_TARGET), ("steady", STEADY_TARGET)):
            mine, base, ratios = sandwich(runs, name)
            mine_cpu, base_cpu, cpu_ratios = sandwich(runs, f"{name}_cpu")
            ratio = statistics.median(ratios)
            what = "every entry new" if name == "first" else "every feed 304"
            report.add(f"{name} cycle ({what}), ours: {label[via]}", f"{statistics.median(mine):.2f} s")
            floor_what = "httpx GET + feedparser.parse" if name == "first" else "httpx GET, If-None-Match"
            report.add(f"{name} cycle, floor: {floor_what}", f"{statistics.median(base):.2f} s")
            report.add(f"{name} cycle, ratio ours ({via})/floor", f"{ratio:.2f}x", f"<= {target}x", ratio <= target)
            report.add(f"{name} cycle, feeds/s ours / floor",
                       f"{args.feeds / statistics.median(mine):,.0f} / {args.feeds / statistics.median(base):,.0f}")
            report.add(f"{name} cycle, process CPU ratio ours ({via})/floor",
                       f"{statistics.median(cpu_ratios):.2f}x", "information")
            report.notes.append(f"{name} cycle ({via}): ours {' '.join(f'{m:.2f}' for m in mine)} s, floors "
                                f"{' '.join(f'{b:.2f}' for b in base)} s, ratios "
                                f"{' '.join(f'{r:.2f}' for r in ratios)}; process CPU ours "
                                f"{' '.join(f'{m:.2f}' for m in mine_cpu)} s, floors "
                                f"{' '.join(f'{b:.2f}' for b in base_cpu)} s (less sensitive to the machine's load)")
        for name in ("first", "steady") if peers else ():
            mine_one = statistics.median(statistics.median(d[name]) if isinstance(d[name], list) else d[name]
                                         for d in mine_runs)
            theirs = statistics.median(peers[0][name]) if name == "steady" else peers[0][name]
            report.add(f"{name} cycle, peer: a loop of feedparser.parse(url)", f"{theirs:.2f} s", "information")
            report.add(f"{name} cycle, ratio ours ({via})/peer", f"{mine_one / theirs:.2f}x", "information")
        rss = max(d["rss_mb"] for d in mine_runs)
        at_start = max(d["startup_rss_mb"] for d in mine_runs)
        report.add(f"daemon peak RSS ({via}; ru_maxrss, imports included)", f"{rss:.0f} MB",
                   f"<= {RSS_TARGET_MB:.0f} MB", rss <= RSS_TARGET_MB)
        report.add(f"daemon peak RSS ({via}) after start-up, before the first cycle", f"{at_start:.0f} MB",
                   "information")
        report.add(f"daemon peak RSS ({via}) minus start-up: what polling added", f"{rss - at_start:.0f} MB",
                   "information")
        report.add(f"daemon RSS ({via}) after the cycles (VmRSS, not the peak)",
                   f"{max(d['rss_now_mb'] for d in mine_runs):.0f} MB", "information")
    startup = statistics.median(d["startup"] for d in daemons)
    report.add("daemon start-up: imports, log, tagger fitted", f"{startup:.2f} s", "information")
    report.notes.append("steady cycles one by one: " + "; ".join(
        f"{side} {' '.join(f'{t:.2f}' for t in run['steady'])} s"
        for side, run in (("floor", floors[0]), *((f"ours ({d['via']})", d) for d in daemons),
                          ("floor", floors[-1]))))
    first, steady = daemons[0]["first_counts"], daemons[0]["steady_counts"]
    report.notes.append(f"checked in every run: first cycle {first['statuses']}, {first['new']:,} new articles, "
                        f"{first['mentions']} mention(s) tagged ({corpus['summit_entries']} entries carry a summit "
                        f"sentence, {corpus['one_side_entries']} name one country only); steady cycles "
                        f"{steady['statuses']}, {steady['new']} new")
    report.notes.append(f"floor peak RSS {max(f['rss_mb'] for f in floors):.0f} MB; daemon's SQLite files at the end "
                        f"{statistics.median(d['db_mb'] for d in daemons):.0f} MB; max_per_host "
                        f"{daemons[0]['max_per_host']}")
    if served:
        report.notes.append(f"server: {sum(served['counts'].values()):,} responses "
                            f"({', '.join(f'{k}: {v:,}' for k, v in sorted(served['counts'].items()))}), "
                            f"{served['cpu']:.1f} s CPU in all")
    report.print()
    if profiled:
        for name in ("first", "steady"):
            print("\n" + profiled["profiles"][name])
    for trace in traces:
        print("\n" + trace)
    misses = [row.label for row in report.rows if row.verdict == "MISS"]
    print(f"\ntotal {time.perf_counter() - started:.0f}s, load average now {os.getloadavg()[0]:.1f}; "
          + (f"{len(misses)} target(s) missed" if misses else "all targets met"))


if __name__ == "__main__":
    main()
