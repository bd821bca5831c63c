"""Event-log performance on SQLite and PostgreSQL: append, replay, and the unreviewed-mentions digest.

    python benchmarks/eventlog.py [--quick] [--events 1000000] [--backends sqlite,postgresql]

PostgreSQL comes from NEWS_MONITOR_BENCH_DATABASE_URL, else NEWS_MONITOR_TEST_DATABASE_URL, else
postgresql+psycopg://postgres@127.0.0.1:5432/test; the benchmark works in fresh schemas that it drops afterwards.
SQLite works in a temporary folder. Every payload is generated here (seeded), never copied from anywhere.

Figures, each with its target:
1. append throughput of ``EventLog.append`` in batches of 1,000, as a ratio to one Core ``insert()`` per batch of
   the same rows into a table of the same shape in the same database (alternating batch by batch; median of rounds);
2. replay throughput of ``EventLog.read()`` over the whole log (payloads decoded when read: the rate with none
   read, and with every one read, for information), and ``Projections.rebuild()`` in events of the log per second
   (on the freshly built log it is also how the projections are caught up);
3. latency of ``build_digest(engine)`` (the unreviewed mentions, opening with the timeline events they report) on a
   log of ``--events`` events (warm: the timeline's merge kept from the warm-up, as between two polls; and cold,
   merged anew), then with 1,000 unreviewed items; and (information) the timeline view's rebuild rate, as a ratio
   to the mentions view's rebuild from the same tags, and the latency of the whole timeline (``build_timeline``);
4. the timeline's part of the digest (``digest_events``: its mentions' events), warm and cold (nothing kept),
   beside the same events got by merging every sighting (as before #16), and whether both agree.

The targets are issue #19's: replay >= 200k events/s on SQLite, rebuild >= 50k / 30k events/s on SQLite /
PostgreSQL, the digest <= 10 ms (a few dozen items) and <= 150 ms (1,000 items), medians; the timeline's part of
the digest cold <= 50 ms is #16's. The script only uses
what main has too, so running it against another checkout (PYTHONPATH) measures that code in the same conditions.

Timings are wall-clock on a possibly shared machine: the load average is printed at the start and the end, and the
append figure is a ratio measured batch by batch against the baseline so that load affects both sides alike. The
append rounds start on empty tables; ``--append-prefill N`` measures them after N events instead (the append's
pre-insert queries grow with the log). On a PostgreSQL server with autovacuum off, tables are ANALYZEd where
autovacuum would have done it (``--no-analyze`` to see the plans a server without statistics picks).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import io
import math
import os
import pstats
import random
import statistics
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from report import Report  # benchmarks/report.py: run as a script, this folder is on the path
from sqlalchemy import MetaData, Table, and_, create_engine, func, inspect, select, text
from sqlalchemy.engine import Engine, make_url

from monitor.digest import timeline as timeline_read
from monitor.digest.build import build_digest
from monitor.digest.timeline import build_timeline
from monitor.events import catalogue as ev
from monitor.views import queries
from monitor.views.projections import Projections
from monitor.views.queries import unreviewed_position
from monitor.views.tables import articles, feed_state, mentions, review_cursor, timeline
from storage.engine import reading
from storage.eventlog import EventLog, NewEvent
from storage.tables import checkpoints, events_table

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_ENVS = ("NEWS_MONITOR_BENCH_DATABASE_URL", "NEWS_MONITOR_TEST_DATABASE_URL")

APPEND_RATIO_TARGET = 0.7
REPLAY_TARGET = 200_000  # events/s, on SQLite (#19)
REBUILD_TARGETS = {"sqlite": 50_000, "postgresql": 30_000}  # events of the log per second (#19)
# What main may lack (the script measures any checkout): the digest's own timeline read (#16).
digest_events = getattr(timeline_read, "digest_events", None)
forget_timeline = getattr(timeline_read, "forget", timeline_read._MERGED.clear)
DIGEST_TARGET_MS = 10.0  # the unreviewed digest of a few dozen items (#19)
TIMELINE_TARGET_MS = 50.0  # the timeline's part of the digest, cold, on a 1,000,000-event log (#16)
DIGEST_LARGE_ITEMS = 1000
DIGEST_LARGE_TARGET_MS = 150.0  # ... and of 1,000 items (#19)

TOPIC = "india-russia-summit"
TOPIC_VERSION = "3f9c2a71d04e"
RULE = "india_side AND russia_side AND meeting"

# A made-up vocabulary: the texts are random sentences over it.
WORDS = """
the a of to in and for on with at by from that this after before while over under about against between
said says told announced reported confirmed expected planned agreed rejected warned called added noted
officials government minister ministry council city region state market markets prices energy trade talks
agreement report reports spokesperson police court election vote voters parliament budget plan policy
company companies shares investors bank banks rates inflation growth jobs workers union strike port
weather storm rain flooding drought harvest farmers exports imports oil gas power grid network project
school schools students teachers hospital doctors patients health water roads bridge railway airport
team match season coach players league final win loss record crowd stadium festival film music book
week month year today yesterday morning evening night early late first second third last next new old
major minor local national regional international foreign domestic public private several many few
increase decrease rise fall jump drop cut boost support pressure concern risk demand supply cost costs
meeting visit delegation leaders summit dialogue cooperation partnership defence security technology
""".split()
SYLLABLES = "ka ri to ma ne sa lo vi da ru pe ko na mi zu la te ho bi ga".split()
SECTIONS = ("world", "business", "politics", "science", "sport", "culture", "local", "opinion")
REFERENCES = ("summit-announcements.md", "bilateral-meetings.md", "joint-statements.md")
PAIRS = (({"name": "Narendra Modi", "side": "india", "role": "leader"},
          {"name": "Vladimir Putin", "side": "russia", "role": "leader"}),
         ({"name": "Subrahmanyam Jaishankar", "side": "india", "role": "minister"},
          {"name": "Sergey Lavrov", "side": "russia", "role": "minister"}))


def pseudo_name(rng: random.Random, parts: int = 3) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


@dataclass
class LogGenerator:
    """An endless, seeded stream of realistic events: feed polls, and per new article ArticleDiscovered,
    sometimes ExtractionFailed, ArticleExtracted and for ~7% of articles MentionTagged."""

    seed: int = 1
    feeds: int = 120
    mention_rate: float = 0.07
    rng: random.Random = field(init=False)
    clock: dt.datetime = field(init=False)
    articles: int = field(default=0, init=False)
    sentences: list[str] = field(init=False)
    feed_names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.clock = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        self.sentences = [self._sentence() for _ in range(4000)]
        self.feed_names = [f"{pseudo_name(self.rng, 2).lower()}-{self.rng.choice(SECTIONS)}-{i}"
                           for i in range(self.feeds)]

    def _sentence(self) -> str:
        rng = self.rng
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 24))]
        for _ in range(rng.randint(0, 2)):
            words.insert(rng.randrange(len(words)), pseudo_name(rng, rng.randint(2, 4)))
        return " ".join(words).capitalize() + "."

    def _text(self) -> str:
        rng = self.rng
        target = rng.randint(500, 1500)
        parts: list[str] = []
        size = 0
        while size < target:
            sentence = rng.choice(self.sentences)
            parts.append(sentence)
            size += len(sentence) + 1
            if rng.random() < 0.2:
                parts.append("\n\n")
        return " ".join(parts).replace(" \n\n ", "\n\n").strip()

    def _attempt(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def events(self) -> Iterator[NewEvent]:
        while True:
            yield from self.poll()

    def poll(self) -> list[NewEvent]:
        """One poll of one feed: its new articles (if any), then its FeedPolled or FeedFailed."""
        rng = self.rng
        self.clock += dt.timedelta(seconds=rng.randint(1, 20))
        feed = rng.choice(self.feed_names)
        url = f"https://{feed.split('-')[0]}.example/{feed}/rss.xml"
        attempt, at = self._attempt(), self.clock
        roll = rng.random()
        if roll < 0.03:
            status = rng.choice((None, 500, 503, 404))
            return [ev.feed_failed(feed, attempt, at, {
                "url": url, "reason": "http_error" if status else "timeout",
                "message": f"HTTP {status}" if status else "the server did not answer within 10s",
                "http_status": status, "retry_after": None})]
        polled: dict[str, Any] = {
            "url": url, "final_url": url, "etag": f'W/"{rng.getrandbits(48):012x}"',
            "last_modified": at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        }
        if roll < 0.45:
            return [ev.feed_polled(feed, attempt, at, {**polled, "http_status": 304, "status": "not_modified",
                                                        "entries_seen": 0, "new_entries": 0,
                                                        "duration": round(rng.uniform(0.05, 0.6), 3)})]
        batch: list[NewEvent] = []
        new = rng.choices((0, 1, 2, 3, 4, 5), weights=(20, 30, 20, 14, 10, 6))[0]
        for _ in range(new):
            batch += self.article(feed)
        entries = new + rng.randint(10, 40)
        batch.append(ev.feed_polled(feed, attempt, at, {
            **polled, "http_status": 200, "status": "ok", "feed_title": f"{pseudo_name(rng)} {feed.split('-')[1]}",
            "format": "rss20", "bozo": False, "entries_seen": entries, "new_entries": new,
            "duration": round(rng.uniform(0.2, 4.0), 3)}))
        return batch

    def article(self, feed: str) -> list[NewEvent]:
        rng = self.rng
        self.articles += 1
        published = self.clock - dt.timedelta(minutes=rng.randint(1, 600))
        day = published.strftime("%Y/%m/%d")
        title = rng.choice(self.sentences).rstrip(".")[:110]
        slug = "-".join(title.lower().split()[:8])
        canonical = f"https://{feed.split('-')[0]}.example/{feed.split('-')[1]}/{day}/{slug}-{self.articles}"
        article = ev.article_id(canonical)
        published_iso = published.isoformat()
        batch = [ev.article_discovered(article, published, {
            "feed": feed, "url": canonical + "?utm_source=rss", "canonical_url": canonical,
            "entry_id": f"urn:{feed}:{self.articles}", "title": title, "published_at": published_iso})]
        source = "page"
        if rng.random() < 0.05:
            source = rng.choice(("feed_content", "feed_summary"))
            batch.append(ev.extraction_failed(article, published, {
                "url": canonical, "reason": "http_error", "message": "HTTP 403 from the page", "fallback": source}))
        body = self._text()
        batch.append(ev.article_extracted(article, published, {
            "url": canonical, "title": title, "text": body, "text_hash": hashlib.sha256(body.encode()).hexdigest(),
            "text_source": source, "word_count": body.count(" ") + 1, "language": "en",
            "author": f"{pseudo_name(rng, 2)} {pseudo_name(rng)}", "page_date": published_iso,
            "published_at": published_iso}))
        if rng.random() < self.mention_rate:
            batch.append(self._mention(article, published, title, canonical, feed, body))
        return batch

    def _mention(self, article: str, published: dt.datetime, title: str, url: str, feed: str,
                 body: str) -> NewEvent:
        rng = self.rng
        evidence = []
        for sentence in rng.sample(body.replace("\n\n", " ").split(". "), k=min(3, rng.randint(1, 3))):
            sentence = sentence.strip().rstrip(".") + "."
            start = max(0, body.find(sentence[:40]))
            day = (published + dt.timedelta(days=rng.randint(0, 60))).date().isoformat()
            pair = rng.choice(PAIRS) if rng.random() < 0.6 else ()  # who meets, as the tagger names them
            evidence.append({
                "field": "text", "text": sentence, "start": start, "end": start + len(sentence),
                "terms": ["India", "Moscow", "summit", *(p["name"].split()[-1] for p in pair)],
                "groups": ["india_side", "meeting", "russia_side", *(["india_leader", "russia_leader"] * bool(pair))],
                "participants": list(pair), "history": False, "context": rng.random() < 0.2,
                "dates": [{"text": "next month", "start": 3, "end": 13, "date": day, "end_date": day,
                           "precision": "month"}] if rng.random() < 0.5 else [],
                "closest_reference": {"document": rng.choice(REFERENCES), "similarity": round(rng.random() / 3, 4)},
            })
        decision = "mention" if rng.random() < 0.65 else "possible"
        score = round(rng.uniform(0.6, 1.0) if decision == "mention" else rng.uniform(0.35, 0.6), 4)
        dates = [d for item in evidence for d in item["dates"]]
        return ev.mention_tagged(article, TOPIC, TOPIC_VERSION, published, {
            "mention": decision == "mention", "decision": decision, "score": score,
            "sentences": [item["text"] for item in evidence], "terms": ["India", "Moscow", "summit"],
            "evidence": evidence, "dates": dates, "rule": RULE, "rule_score": 0.8,
            "groups": {"india_side": ["India"], "meeting": ["summit"], "russia_side": ["Moscow"]},
            "similarity": {name: round(rng.random() / 3, 4) for name in REFERENCES},
            "title": title, "url": url, "feed": feed, "published_at": published.isoformat()})


def take(stream: Iterator[NewEvent], count: int) -> list[NewEvent]:
    return [next(stream) for _ in range(count)]


# -- databases -------------------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    new_database: Callable[[str], str]  # label -> URL of a fresh, empty database
    cleanup: Callable[[], None]
    where: str


def sqlite_backend(folder: str) -> Backend:
    def new_database(label: str) -> str:
        return f"sqlite:///{os.path.join(folder, label + '.sqlite3')}"

    return Backend("SQLite", new_database, lambda: None, f"temporary files in {folder}")


def postgres_backend() -> Backend | str:
    """A backend whose databases are fresh schemas, or the reason PostgreSQL cannot be used."""
    raw = next((os.environ[name] for name in PG_ENVS if os.environ.get(name)), PG_DEFAULT)
    base = make_url(raw)
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    shown = base.render_as_string(hide_password=True)
    admin = create_engine(base, connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            version = conn.scalar(text("SHOW server_version"))
    except Exception as exc:  # noqa: BLE001 - any failure means "unreachable"
        admin.dispose()
        return f"PostgreSQL unreachable at {shown}: {' '.join(str(getattr(exc, 'orig', exc)).split())[:200]}"
    schemas: list[str] = []

    def new_database(label: str) -> str:
        schema = f"nm_bench_{label}_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        schemas.append(schema)
        return base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)

    def cleanup() -> None:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    return Backend("PostgreSQL", new_database, cleanup, f"{shown} (server {version}), fresh schemas")


def baseline_table(metadata: MetaData) -> Table:
    """A copy of the events table (same columns, types, constraints and indexes) named events_baseline."""
    table = events_table.to_metadata(metadata, name="events_baseline")
    for item in (*table.constraints, *table.indexes):
        if isinstance(item.name, str) and "events" in item.name:
            item.name = item.name.replace("events", "events_baseline", 1)
    return table


# -- measurements ----------------------------------------------------------------------------------------


def backend_name(report: Report) -> str:
    return report.title.split(":")[0]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} ev/s" if seconds > 0 else "n/a"


def baseline_rows(batch: list[NewEvent], versions: dict[str, int], now: dt.datetime) -> list[dict[str, Any]]:
    rows = []
    for new in batch:
        versions[new.stream] = version = versions.get(new.stream, 0) + 1
        rows.append({"stream": new.stream, "version": version, "type": new.type, "schema": new.schema,
                     "key": new.key, "occurred_at": new.occurred_at, "recorded_at": now, "data": new.data})
    return rows


class Profiler:
    """Optional cProfile of a few sections, printed after the tables."""

    def __init__(self, enabled: bool, top: int = 14) -> None:
        self.enabled = enabled
        self.top = top
        self.outputs: list[str] = []

    def run(self, title: str, action: Callable[[], Any]) -> Any:
        if not self.enabled:
            return action()
        profile = cProfile.Profile()
        result = profile.runcall(action)
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(self.top)
        lines = [line for line in out.getvalue().splitlines() if line.strip()]
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        self.outputs.append(f"--- profile: {title} (top {self.top} by own time)\n" + "\n".join(lines[start:]))
        return result


def bench_append(url: str, report: Report, rounds: int, batches: int, batch_size: int, profiler: Profiler,
                 prefill: int = 0, analyze: bool = True) -> None:
    """Interleaved rounds: ``batches`` appends through EventLog vs as many Core inserts of the same rows, after
    ``prefill`` events written to both tables (untimed, by Core inserts) to measure at a larger size."""
    log = EventLog.open(url, migrate=True)
    engine = log.engine
    baseline = baseline_table(MetaData())
    baseline.create(engine)
    stream = LogGenerator(seed=7).events()
    versions: dict[str, int] = {}

    def prepare(count: int) -> tuple[list[list[NewEvent]], list[list[dict[str, Any]]]]:
        ours = [take(stream, batch_size) for _ in range(count)]
        now = dt.datetime.now(dt.UTC)
        return ours, [baseline_rows(batch, versions, now) for batch in ours]

    def run_ours(work: list[list[NewEvent]]) -> float:
        started = time.perf_counter()
        for batch in work:
            log.append(batch)
        return time.perf_counter() - started

    def run_baseline(work: list[list[dict[str, Any]]]) -> float:
        started = time.perf_counter()
        for rows in work:
            with engine.begin() as conn:
                conn.execute(baseline.insert(), rows)
        return time.perf_counter() - started

    for start in range(0, prefill, 5000):  # the same rows into both tables, so the versions agree
        rows = baseline_rows(take(stream, min(5000, prefill - start)), versions, dt.datetime.now(dt.UTC))
        with engine.begin() as conn:
            conn.execute(events_table.insert(), rows)
            conn.execute(baseline.insert(), rows)
    if prefill and analyze:
        emulate_autovacuum(engine, report, "after the prefill", [events_table.name, baseline.name])
    warm_ours, warm_base = prepare(1)  # compiled-statement caches and first pages, not timed
    run_ours(warm_ours)
    run_baseline(warm_base)
    ours_rates, base_rates, ratios = [], [], []
    for number in range(rounds):
        ours, base = prepare(batches)
        t_ours = t_base = 0.0
        for index in range(batches):  # alternate batch by batch, and which side goes first
            if (number + index) % 2 == 0:
                t_ours += run_ours(ours[index:index + 1])
                t_base += run_baseline(base[index:index + 1])
            else:
                t_base += run_baseline(base[index:index + 1])
                t_ours += run_ours(ours[index:index + 1])
        events = batches * batch_size
        ours_rates.append(events / t_ours)
        base_rates.append(events / t_base)
        ratios.append(t_base / t_ours)
    if profiler.enabled:
        ours, _ = prepare(batches)
        profiler.run(f"{backend_name(report)} EventLog.append x{batches} batches of {batch_size}",
                     lambda: run_ours(ours))
    ratio = statistics.median(ratios)
    n = rounds * batches * batch_size
    report.add(f"append, EventLog.append (batches of {batch_size:,})", f"{statistics.median(ours_rates):,.0f} ev/s")
    report.add("append, raw Core insert, same rows", f"{statistics.median(base_rates):,.0f} ev/s")
    report.add("append ratio ours/raw (median of rounds)", f"{ratio:.2f}", f">= {APPEND_RATIO_TARGET}",
               ratio >= APPEND_RATIO_TARGET)
    report.notes.append(f"append: {rounds} rounds x {batches} batches of {batch_size:,} per side ({n:,} events each), "
                        f"alternating batch by batch, tables prefilled with {prefill:,} events; per-round ratios "
                        f"{' '.join(f'{r:.2f}' for r in ratios)}")
    log.close()


@dataclass
class BuiltLog:
    log: EventLog
    events: int
    unreviewed_events: int
    build_seconds: float
    append_seconds: float


def build_log(url: str, total: int, unreviewed: int, batch_size: int, review_every: int) -> BuiltLog:
    """Append ``total`` realistic events; the user reviews every ``review_every`` events and a last time
    ``unreviewed`` events before the end, so that only a recent slice is unreviewed."""
    log = EventLog.open(url, migrate=True)
    generator = LogGenerator(seed=1)
    stream = generator.events()
    reviews = list(range(review_every, total - unreviewed, review_every)) + [total - unreviewed]
    written = 0
    append_seconds = 0.0
    started = time.perf_counter()
    pending: list[NewEvent] = []

    def flush() -> None:
        nonlocal append_seconds, pending, written
        if pending:
            t0 = time.perf_counter()
            log.append(pending)
            append_seconds += time.perf_counter() - t0
            written += len(pending)
            pending = []

    for review_at in reviews:
        while written + len(pending) < review_at:
            pending.append(next(stream))
            if len(pending) >= batch_size:
                flush()
        flush()
        position = log.last_position(exclude_types=[ev.DIGEST_REVIEWED])
        pending.append(ev.digest_reviewed(position, generator.clock))
    while written + len(pending) < total:
        pending.append(next(stream))
        if len(pending) >= batch_size:
            flush()
    flush()
    with log.engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(events_table)) or 0
    return BuiltLog(log, count, total - reviews[-1], time.perf_counter() - started, append_seconds)


def timed_runs(action: Callable[[], Any], runs: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        action()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def emulate_autovacuum(engine: Engine, report: Report, when: str, tables: list[str]) -> None:
    """On a PostgreSQL server with autovacuum off (common for test servers), ANALYZE what autovacuum would have
    analyzed by now: without statistics the planner picks plans that no production server would."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        if conn.exec_driver_sql("SHOW autovacuum").scalar() != "off":
            return
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE " + ", ".join(tables))
    report.notes.append(f"autovacuum is off on this server: ANALYZE {', '.join(tables)} {when} "
                        f"({time.perf_counter() - started:.1f}s), as autovacuum would (--no-analyze: skip)")


def bench_log(url: str, report: Report, args: argparse.Namespace, profiler: Profiler) -> None:
    built = build_log(url, args.events, args.unreviewed, args.build_batch, args.review_every)
    log, engine = built.log, built.log.engine
    report.notes.append(f"log: {built.events:,} events built in {built.build_seconds:.1f}s (appending "
                        f"{built.append_seconds:.1f}s = {rate(built.events, built.append_seconds)}, the rest "
                        f"generating payloads), batches of {args.build_batch:,}")
    if args.analyze:
        emulate_autovacuum(engine, report, "after the build", [events_table.name])

    # Replay through the public reader: the payloads left unread (decoded when first read), and all of them read.
    def replay() -> int:
        return sum(1 for _ in log.read())

    def replay_reading_payloads() -> int:
        return sum(1 for event in log.read() if event.data is not None)

    started = time.perf_counter()
    replayed = replay()
    replay_seconds = time.perf_counter() - started
    started = time.perf_counter()
    replay_reading_payloads()
    decoded_seconds = time.perf_counter() - started
    if profiler.enabled:
        profiler.run(f"{backend_name(report)} EventLog.read() of the whole log", replay)
    replay_rate = replayed / replay_seconds
    sqlite = engine.dialect.name == "sqlite"
    report.add(f"replay, EventLog.read() of {replayed:,} events", f"{replay_rate:,.0f} ev/s",
               f">= {REPLAY_TARGET:,}" + ("" if sqlite else " (SQLite target)"), replay_rate >= REPLAY_TARGET,
               binding=sqlite)
    report.add("replay, EventLog.read() reading every payload", rate(replayed, decoded_seconds), "information")

    projections = Projections(engine)
    if hasattr(projections, "create_schema"):  # storage without migrations: the views are made here
        projections.create_schema()
    # The views are empty, so rebuild() (empty them, replay the whole log) is the catch-up: one timed replay.
    started = time.perf_counter()
    applied = projections.rebuild()
    rebuild_seconds = time.perf_counter() - started
    leftover = projections.catch_up()
    rebuild_target = REBUILD_TARGETS[engine.dialect.name]
    report.add("projection rebuild, Projections.rebuild()", rate(built.events, rebuild_seconds),
               f">= {rebuild_target:,} ev/s", built.events / rebuild_seconds >= rebuild_target)
    report.notes.append(f"projections caught up by rebuild() from empty views: {rebuild_seconds:.1f}s for "
                        f"{built.events:,} log events ({applied:,} view applications; catch_up() then applied "
                        f"{leftover})")
    # The first rebuild of a process also pays one-time costs (scikit-learn's stopwords and datasketch imported
    # for the story features, the gazetteer read in a child process for the timeline: seconds, a large share of a
    # 100k-event rebuild); a second one shows the rate per event, and the CPU time how much of it waited for a core.
    started, cpu = time.perf_counter(), time.process_time()
    projections.rebuild()
    again, again_cpu = time.perf_counter() - started, time.process_time() - cpu
    report.add("projection rebuild again (one-time imports done)",
               f"{rate(built.events, again)} (CPU: {rate(built.events, again_cpu)})", "information")
    if profiler.enabled:
        profiler.run(f"{backend_name(report)} Projections.rebuild()", projections.rebuild)
    if args.analyze:
        emulate_autovacuum(engine, report, "after the rebuild",
                           [t.name for t in (feed_state, articles, mentions, review_cursor, checkpoints)]
                           + [t for t in ("timeline", "timeline_sightings") if t in inspect(engine).get_table_names()])

    bench_timeline_rebuild(engine, projections, report, built.events)

    # The digest the user reviews: mentions after the review cursor, opening with the timeline events they report.
    digest = build_digest(engine, None)

    def count_unreviewed() -> int:
        with engine.connect() as conn:
            cursor = unreviewed_position(conn)
            return conn.scalar(select(func.count()).select_from(mentions).where(
                and_(mentions.c.mention.is_(True), mentions.c.position > cursor))) or 0

    with engine.connect() as conn:
        total_mentions = conn.scalar(select(func.count()).select_from(mentions)) or 0
    digest_ms = timed_runs(lambda: build_digest(engine, None), args.runs)
    count_ms = timed_runs(count_unreviewed, args.runs)
    profiler.run(f"{backend_name(report)} build_digest x{args.runs}",
                 lambda: [build_digest(engine, None) for _ in range(args.runs)])
    label = f"unreviewed mentions, build_digest ({len(digest.items)} items, {len(digest.timeline)} timeline events)"
    report.add(f"{label} median", f"{statistics.median(digest_ms):.1f} ms", f"<= {DIGEST_TARGET_MS:.0f} ms",
               statistics.median(digest_ms) <= DIGEST_TARGET_MS)
    report.add(f"{label} p95", f"{p95(digest_ms):.1f} ms", f"<= {DIGEST_TARGET_MS:.0f} ms",
               p95(digest_ms) <= DIGEST_TARGET_MS)
    report.add("count of unreviewed mentions median / p95",
               f"{statistics.median(count_ms):.1f} / {p95(count_ms):.1f} ms", "information")
    # Cold: the first digest after a poll tagged something (the timeline's merge is kept while its views stand
    # still; forgetting it here makes every run merge every sighting again).
    def cold_digest() -> Any:
        forget_timeline()
        return build_digest(engine, None)

    cold_ms = timed_runs(cold_digest, max(3, args.runs // 4))
    report.add(f"{label}, cold (the timeline merged anew) median", f"{statistics.median(cold_ms):.1f} ms",
               f"<= {DIGEST_TARGET_MS:.0f} ms", statistics.median(cold_ms) <= DIGEST_TARGET_MS)
    # The timeline's share of the digest: the events its items report, read warm (kept) and cold (merged anew),
    # as build_digest reads them (digest_events: the sightings that can share an event with the items' own), and
    # as it read them before #16 (every sighting merged, then the events the items report kept).
    def timeline_part(cold: bool, whole_merge: bool = False) -> Any:
        if cold:
            forget_timeline()
        with reading(engine) as conn:
            if whole_merge or digest_events is None:
                return timeline_read.touched(timeline_read.timeline_events(conn), digest.items)
            return digest_events(conn, digest.items)

    warm_part = timed_runs(lambda: timeline_part(False), args.runs)
    cold_part = timed_runs(lambda: timeline_part(True), max(5, args.runs // 2))
    cold_whole = timed_runs(lambda: timeline_part(True, whole_merge=True), max(3, args.runs // 4))
    report.add("the timeline's part of build_digest, warm median", f"{statistics.median(warm_part):.1f} ms",
               f"<= {DIGEST_TARGET_MS:.0f} ms", statistics.median(warm_part) <= DIGEST_TARGET_MS)
    report.add("the timeline's part of build_digest, cold median", f"{statistics.median(cold_part):.1f} ms",
               f"<= {TIMELINE_TARGET_MS:.0f} ms", statistics.median(cold_part) <= TIMELINE_TARGET_MS)
    report.add("the timeline's part of build_digest, cold p95", f"{p95(cold_part):.1f} ms",
               f"<= {TIMELINE_TARGET_MS:.0f} ms", p95(cold_part) <= TIMELINE_TARGET_MS)
    if digest_events is not None:
        before, after = statistics.median(cold_whole), statistics.median(cold_part)
        report.add("  the same, merging every sighting (as before #16), cold median",
                   f"{before:.1f} ms = {before / after:.1f}x", "information")
        same = timeline_part(True) == timeline_part(True, whole_merge=True)
        report.add("  its events equal those of the whole merge", "yes" if same else "NO", "yes", same)
        with reading(engine) as conn:
            shown = sorted({(item["article_id"], item["topic"]) for item in digest.items})
            events = queries.event_sightings(conn, sorted(queries.sighting_events(conn, shown)))
            read = sum(len(sightings) for sightings in events.values())
            total = conn.scalar(select(func.coalesce(func.sum(timeline.c.count), 0))) or 0
        report.notes.append(f"timeline part: the digest's {len(shown)} tags' {len(events)} events read as "
                            f"{read:,} of the log's {total:,} sightings")
    if profiler.enabled:  # where the cold part goes
        profiler.run(f"{backend_name(report)} the timeline's part of build_digest, cold x{len(cold_part)}",
                     lambda: [timeline_part(True) for _ in range(len(cold_part))])
    whole = build_timeline(engine)
    timeline_ms = timed_runs(lambda: (forget_timeline(), build_timeline(engine)), max(3, args.runs // 4))
    report.add(f"whole timeline, build_timeline ({len(whole):,} events), cold",
               f"{statistics.median(timeline_ms):.1f} ms median", "information")
    report.notes.append(f"digest: {args.runs} runs after 2 warm-ups; {built.unreviewed_events:,} events after the "
                        f"last review, {count_unreviewed()} unreviewed mention(s) of {total_mentions:,} tagged")
    bench_large_digest(log, projections, report, args, profiler)
    log.close()


def bench_large_digest(log: EventLog, projections: Projections, report: Report, args: argparse.Namespace,
                       profiler: Profiler) -> None:
    """The unreviewed digest once DIGEST_LARGE_ITEMS mentions wait: tagged articles appended after the review
    (as a week of polls unreviewed would), projected as the daemon does, then the digest timed."""
    engine = log.engine
    generator = LogGenerator(seed=2, mention_rate=1.0)
    waiting = len(build_digest(engine, None).items)
    pending: list[NewEvent] = []
    while waiting < DIGEST_LARGE_ITEMS:
        batch = generator.article(generator.rng.choice(generator.feed_names))
        waiting += sum(1 for e in batch if e.type == ev.MENTION_TAGGED and e.data["mention"])
        pending += batch
    for start in range(0, len(pending), args.build_batch):
        log.append(pending[start:start + args.build_batch])
    projections.catch_up()
    digest = build_digest(engine, None)
    runs = max(5, args.runs // 3)
    digest_ms = timed_runs(lambda: build_digest(engine, None), runs)
    profiler.run(f"{backend_name(report)} build_digest of {len(digest.items):,} items x3",
                 lambda: [build_digest(engine, None) for _ in range(3)])
    report.add(f"unreviewed mentions, build_digest ({len(digest.items):,} items, {len(digest.stories):,} stories) "
               "median", f"{statistics.median(digest_ms):.1f} ms", f"<= {DIGEST_LARGE_TARGET_MS:.0f} ms",
               statistics.median(digest_ms) <= DIGEST_LARGE_TARGET_MS)
    report.notes.append(f"large digest: {len(pending):,} events of tagged articles appended after the review, "
                        f"{runs} runs after 2 warm-ups")


def bench_timeline_rebuild(engine: Engine, projections: Projections, report: Report, total: int) -> None:
    """The timeline view rebuilt alone (each tag's sentences read for meetings, places looked up in the
    gazetteer), as a ratio to the mentions view rebuilt alone from the same tags in the same run."""
    with engine.connect() as conn:
        tags = conn.scalar(select(func.count()).select_from(events_table).where(
            events_table.c.type.in_([ev.MENTION_TAGGED, ev.MENTION_RETRACTED]))) or 0
        sightings = conn.scalar(select(func.coalesce(func.sum(timeline.c.count), 0))) or 0
    seconds = {}
    for name in ("mentions", "timeline"):
        started = time.perf_counter()
        projections.rebuild([name])
        seconds[name] = time.perf_counter() - started
    report.add(f"timeline rebuild, Projections.rebuild(['timeline']) of {tags:,} tags",
               f"{rate(tags, seconds['timeline'])} = {seconds['timeline'] / seconds['mentions']:.2f}x the mentions "
               "view's", "information")
    report.notes.append(f"timeline: rebuilt in {seconds['timeline']:.1f}s ({rate(total, seconds['timeline'])} "
                        f"of the whole log; {sightings:,} meeting sightings); the mentions view alone "
                        f"{seconds['mentions']:.1f}s")


# -- main ------------------------------------------------------------------------------------------------


def run_backend(backend: Backend, args: argparse.Namespace, profiler: Profiler) -> Report:
    report = Report(f"{backend.name}: {backend.where}")
    started = time.perf_counter()
    try:
        bench_append(backend.new_database("append"), report, args.rounds, args.batches, 1000, profiler,
                     args.append_prefill, args.analyze)
        bench_log(backend.new_database("log"), report, args, profiler)
    except Exception as exc:  # noqa: BLE001 - report it, and go on with the other backend
        traceback.print_exc()
        report.add("run", f"FAILED: {type(exc).__name__}", ok=False)
        report.notes.append(f"failed: {' '.join(str(exc).split())[:300]}")
    finally:
        backend.cleanup()
    report.notes.append(f"{backend.name} total {time.perf_counter() - started:.0f}s")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--quick", action="store_true", help="A fast check: 100,000 events, fewer rounds.")
    parser.add_argument("--events", type=int, help="Events in the large log (default 1,000,000; --quick 100,000).")
    parser.add_argument("--unreviewed", type=int, default=2000, help="Events after the last review (default 2000).")
    parser.add_argument("--review-every", type=int, default=50_000, help="Events between reviews (default 50,000).")
    parser.add_argument("--build-batch", type=int, default=2000, help="Batch size when building the log.")
    parser.add_argument("--rounds", type=int, help="Append rounds (default 11; --quick 5).")
    parser.add_argument("--batches", type=int, help="Batches of 1,000 per side and round (default 6; --quick 4).")
    parser.add_argument("--append-prefill", type=int, default=0,
                        help="Events written to both tables before the append rounds (default 0: empty tables).")
    parser.add_argument("--runs", type=int, default=20, help="Timed digest runs (default 20).")
    parser.add_argument("--no-analyze", dest="analyze", action="store_false",
                        help="On a PostgreSQL server with autovacuum off, do not ANALYZE as autovacuum would.")
    parser.add_argument("--backends", default="sqlite,postgresql", help="Comma-separated: sqlite, postgresql.")
    parser.add_argument("--tmpdir", help="Folder for the SQLite files (default: the system temp folder).")
    parser.add_argument("--profile", action="store_true",
                        help="Also cProfile append, read, rebuild and the digest (extra, untimed runs).")
    args = parser.parse_args()
    args.events = args.events or (100_000 if args.quick else 1_000_000)
    args.rounds = args.rounds or (5 if args.quick else 11)
    args.batches = args.batches or (4 if args.quick else 6)
    if args.unreviewed >= args.events:
        parser.error("--unreviewed must be smaller than --events")
    wanted = [name.strip().lower() for name in args.backends.split(",") if name.strip()]
    profiler = Profiler(args.profile)

    print(f"event-log benchmark: {args.events:,} events, append {args.rounds} rounds x {args.batches} batches "
          f"of 1,000, digest {args.runs} runs; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    started = time.perf_counter()
    reports: list[Report] = []
    with tempfile.TemporaryDirectory(prefix="nm-bench-", dir=args.tmpdir) as folder:
        if "sqlite" in wanted:
            reports.append(run_backend(sqlite_backend(folder), args, profiler))
            reports[-1].print()
    if "postgresql" in wanted:
        backend = postgres_backend()
        if isinstance(backend, str):
            print(f"\n== PostgreSQL: SKIPPED - {backend}")
        else:
            reports.append(run_backend(backend, args, profiler))
            reports[-1].print()
    for output in profiler.outputs:
        print("\n" + output)
    misses = [miss for r in reports for miss in r.misses()]
    print(f"\ntotal {time.perf_counter() - started:.0f}s, load average now {os.getloadavg()[0]:.1f}; "
          + (f"{len(misses)} target(s) missed" if misses else "all targets met"))


if __name__ == "__main__":
    main()
