"""``news-monitor serve``: the review page, server-rendered, usable without JavaScript.

Routes (GET never writes; every write appends ``DigestReviewed`` through ``monitor.views.review``):

    GET  /              the review page: filters, mentions (unreviewed first), feeds panel
    POST /review        mark the ``item`` fields reviewed, then 303 back to the same filtered page
    POST /judge         reject or accept one item (``MentionJudged``, monitor.web.verdicts), then 303 back
    POST /login         set the token cookie (when ``[web] token`` is set), then 303 back
    GET  /api/mentions  the digest as JSON (the page's filters as query parameters; ``text=1`` adds texts)
    POST /api/review    JSON ``{"items": [{"article_id", "topic", "position"}]}``
    GET  /api/timeline  the timeline as JSON (``timeline --format json``; ``topic``, ``from``, ``to``, ``status``)
    GET  /timeline.ics  the timeline as iCalendar, upcoming events included
    GET  /feed.atom     the mentions as an Atom feed
    GET  /healthz       JSON; what ``news-monitor health`` says, 503 when unhealthy
    GET  /metrics       Prometheus text exposition

Security: everything from a feed is escaped (Jinja2 autoescape; highlights are built from escaped pieces);
a strict Content-Security-Policy allows no script at all; with a token configured, every write needs it
(``Authorization: Bearer`` or the HttpOnly, SameSite=Strict cookie that ``/login`` sets); a POST whose
``Origin`` or ``Referer`` names another host is refused (CSRF). Those checks and headers are
monitor.web.auth; the filter parameters are read by monitor.web.filters.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader
from sqlalchemy.exc import SQLAlchemyError

from monitor.config import Config
from monitor.digest.build import STATUSES, build_digest
from monitor.digest.timeline import build_timeline, timeline_document
from monitor.digest.timeline_render import to_ics
from monitor.digest.timeline_render import view as timeline_view
from monitor.errors import HANDLED, MonitorError
from monitor.language.text import xml_finalize
from monitor.systemd import Notifier
from monitor.views import queries
from monitor.views.fleet import fleet_status
from monitor.views.health import check_health
from monitor.views.log import open_log, projections
from monitor.views.review import mark_reviewed
from monitor.views.status import feed_status
from monitor.web import present
from monitor.web.auth import (
    Auth,
    Forbidden,
    Unauthorized,
    add_security_headers,
    check_same_origin,
    host_allowed,
)
from monitor.web.counters import CountersFollower
from monitor.web.filters import InvalidFilter, parse_filters, parse_timeline_filters
from monitor.web.metrics import MonitorCollector, Snapshot, exposition, metrics_registry
from monitor.web.verdicts import add_verdict_routes
from storage.engine import reading
from storage.errors import StorageError
from storage.eventlog import EventLog

TEMPLATES = Path(__file__).parent / "templates"
MAX_ITEMS = 5000  # items one review may name: more than a page ever shows
JUDGED = ("rejected", "accepted", "unchanged")  # the notices a verdict redirects back with


class BadRequest(Exception):
    """A form value that cannot be used: a 400 with a one-line message (a filter's: InvalidFilter)."""


class WebState:
    """What the routes share: the config, the log, the token's checks (``auth``) and the templates."""

    def __init__(self, config: Config, log: EventLog) -> None:
        self.config = config
        self.log = log
        self.projections = projections(log)
        self.auth = Auth(config)
        self._catch_up_lock = threading.Lock()
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                               lstrip_blocks=True, finalize=xml_finalize)  # feed text may hold U+0001
        self.env.globals.update(when=present.when, short=present.short, iso=present.iso)
        self.counters = CountersFollower(log)
        self.metrics = metrics_registry(MonitorCollector(self.metrics_snapshot))

    def catch_up(self, names: list[str] | None = None) -> None:
        # One catch-up at a time from this process: concurrent requests would only queue on the write lock.
        with self._catch_up_lock:
            self.projections.catch_up(names)

    def render(self, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(self.env.get_template(name).render(**context), status_code=status_code)

    def metrics_snapshot(self) -> Snapshot:
        """Counted in SQL (not through build_digest, which also groups stories): a scrape stays cheap. The
        views' lag is measured before this scrape catches them up: how far behind the daemon left them."""
        lag = self.projections.lag()
        self.catch_up()
        with reading(self.log.engine) as conn:
            counts = queries.mention_review_counts(conn)
            oldest = queries.oldest_unreviewed_tagged_at(conn, queries.unreviewed_position(conn))
        for topic in {t.id for t in self.config.topics} | {topic for topic, _ in counts}:
            for state in ("unreviewed", "reviewed"):
                counts.setdefault((topic, state), 0)
        return Snapshot(mentions=counts, feeds=feed_status(self.log.engine, self.config),
                        position=self.log.last_position(), view_lag=lag, oldest_unreviewed_at=oldest,
                        counters=self.counters.current(), fleet=self.fleet())

    def fleet(self) -> dict[str, Any] | None:
        """The workers, read at scrape time; None on SQLite, or when the queue cannot be read (then the other
        metrics still answer)."""
        try:
            return fleet_status(self.config, self.log)
        except StorageError:
            return None


# -- review items -------------------------------------------------------------------------------------

def parse_items(values: list[str]) -> list[tuple[str, str, int]]:
    """Form fields ``item=article_id|topic|position``."""
    if len(values) > MAX_ITEMS:
        raise BadRequest(f"too many items ({len(values)}; at most {MAX_ITEMS} at once)")
    refs = []
    for value in values:
        parts = value.split("|")
        if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2].isdigit():
            raise BadRequest(f"item: expected article_id|topic|position, got {value[:80]!r}")
        refs.append((parts[0], parts[1], int(parts[2])))
    return refs


def check_known(state: WebState, refs: list[tuple[str, str, int]]) -> None:
    """Every ref must name a recorded tag: a review of something never shown would be noise in the log.
    Its position may be older than the tag's current one (the page was shown before a retag)."""
    with reading(state.log.engine) as conn:
        known = queries.mention_positions(conn, sorted({ref[0] for ref in refs}))
    for article_id, topic, position in refs:
        if known.get((article_id, topic), -1) < position:
            raise BadRequest(f"item: no tag {article_id}|{topic}|{position} in the log")


def _order(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Unreviewed first; within each, the digest's order: newest publication first."""
    return sorted(items, key=lambda item: item["reviewed"])


# -- the app ------------------------------------------------------------------------------------------

def create_app(config: Config, *, log: EventLog | None = None) -> FastAPI:
    """The review app over ``log`` (opened from the config when not given, and then closed with the app)."""
    owns_log = log is None
    state = WebState(config, log if log is not None else open_log(config))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with service_notifications():
            yield
        if owns_log:
            state.log.close()

    app = FastAPI(title="news-monitor", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.web = state

    allowed_hosts = config.web.hosts_allowed()

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        if not host_allowed(request.headers.get("host", ""), allowed_hosts):
            response: Response = PlainTextResponse(
                "400 Bad Request: this page does not answer to that Host header ([web] allowed_hosts)\n", 400)
        else:
            response = await call_next(request)
        add_security_headers(response)
        return response

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/") or request.url.path in (
            "/healthz", "/metrics", "/feed.atom", "/timeline.ics")

    def error(request: Request, status: int, message: str, **extra: Any) -> Response:
        if wants_json(request):
            return JSONResponse({"error": message}, status_code=status, headers=extra.pop("headers", None))
        return state.render("error.html", status, status=status, message=message,
                            login=status == 401 and state.auth.token is not None, **extra)

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return error(request, 400, str(exc))

    @app.exception_handler(InvalidFilter)
    async def invalid_filter(request: Request, exc: InvalidFilter) -> Response:
        return error(request, 400, str(exc))

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> Response:
        return error(request, 401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="news-monitor"'},
                     back=request.url.query)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return error(request, 403, str(exc))

    async def storage_error(request: Request, exc: Exception) -> Response:
        return error(request, 503, f"the event log cannot be read: {' '.join(str(exc).split())}")

    for handled in HANDLED:
        app.add_exception_handler(handled, storage_error)

    @app.exception_handler(SQLAlchemyError)
    async def database_error(request: Request, exc: SQLAlchemyError) -> Response:
        return error(request, 503, f"the database cannot be read: {type(exc).__name__}")

    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
    def index(request: Request) -> Response:
        filters, query = parse_filters(request.query_params)
        state.catch_up()
        digest = build_digest(state.log.engine, filters=filters, limit=config.web.page_size, with_text=True)
        feeds = feed_status(state.log.engine, config)
        items = [present.present_item(item) for item in _order(digest.items)]
        timeline = timeline_view(build_timeline(state.log.engine, topic=filters.topic))
        marked = request.query_params.get("marked", "")
        return state.render(
            "index.html", filters=filters, query=query, query_string=urlencode(query), items=items,
            counts=digest.counts, feeds=feeds, topics=_topics(state), feed_names=[f["feed"] for f in feeds],
            statuses=STATUSES, can_write=state.auth.authorized(request), needs_token=state.auth.token is not None,
            page_size=config.web.page_size, marked=int(marked) if marked.isdigit() else None,
            judged=request.query_params.get("judged") if request.query_params.get("judged") in JUDGED else None,
            timeline=timeline)

    @app.post("/review")
    async def review(request: Request) -> Response:
        form = await request.form(max_fields=MAX_ITEMS + 10)
        _, query = parse_filters(request.query_params)
        state.auth.check_write(request)
        refs = parse_items([str(v) for v in form.getlist("item")])
        recorded = await _run(lambda: _review(state, refs))
        return RedirectResponse("/?" + urlencode({**query, "marked": len(refs) if recorded else 0}), status_code=303)

    add_verdict_routes(app, state)

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        _, query = parse_filters(request.query_params)
        check_same_origin(request, config.web.base_url)
        given = str(form.get("token") or "")
        if state.auth.token is None:
            return RedirectResponse("/?" + urlencode(query), status_code=303)
        state.auth.check_token(given)
        response = RedirectResponse("/?" + urlencode(query), status_code=303)
        state.auth.set_cookie(request, response)
        return response

    @app.get("/api/mentions")
    def api_mentions(request: Request) -> Response:
        filters, _ = parse_filters(request.query_params)
        with_text = request.query_params.get("text") in ("1", "true", "yes")
        state.catch_up()
        digest = build_digest(state.log.engine, filters=filters, limit=config.web.page_size, with_text=with_text)
        return Response(json.dumps(digest.as_dict(), ensure_ascii=False), media_type="application/json")

    @app.get("/api/timeline")
    def api_timeline(request: Request) -> Response:
        chosen = parse_timeline_filters(request.query_params)
        state.catch_up()
        events = build_timeline(state.log.engine, **chosen)  # type: ignore[arg-type]
        return Response(json.dumps(timeline_document(events), ensure_ascii=False), media_type="application/json")

    @app.api_route("/timeline.ics", methods=["GET", "HEAD"])
    def timeline_ics(request: Request) -> Response:
        chosen = parse_timeline_filters(request.query_params)
        state.catch_up()
        events = build_timeline(state.log.engine, **chosen)  # type: ignore[arg-type]
        return Response(to_ics(events), media_type="text/calendar; charset=utf-8",
                        headers={"Content-Disposition": 'inline; filename="timeline.ics"'})

    @app.post("/api/review")
    async def api_review(request: Request) -> Response:
        state.auth.check_write(request)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise BadRequest("expected Content-Type: application/json")
        try:
            body = json.loads(await request.body())
            refs = parse_items([f"{i['article_id']}|{i['topic']}|{i['position']}" for i in body["items"]])
        except (ValueError, TypeError, KeyError) as exc:
            raise BadRequest('expected {"items": [{"article_id": …, "topic": …, "position": …}]}') from exc
        recorded = await _run(lambda: _review(state, refs))
        return JSONResponse({"recorded": recorded, "items": len(refs)})

    @app.api_route("/feed.atom", methods=["GET", "HEAD"])
    def feed_atom(request: Request) -> Response:
        from monitor.digest.render import to_atom

        filters, _ = parse_filters(request.query_params, default_status="all")
        state.catch_up()
        digest = build_digest(state.log.engine, filters=filters, limit=config.web.page_size)
        validators = atom_validators(digest, request.url.query)
        if not_modified(request, *validators):
            return Response(status_code=304, headers=_validator_headers(*validators))
        base = (config.web.base_url or str(request.base_url)).rstrip("/") + "/"
        self_url = base + "feed.atom" + (f"?{request.url.query}" if request.url.query else "")
        body = to_atom(digest, feed_id=base + "feed.atom", self_url=self_url, site_url=base)
        return Response(body, media_type="application/atom+xml; charset=utf-8",
                        headers=_validator_headers(*validators))

    @app.api_route("/healthz", methods=["GET", "HEAD"])  # load balancers and uptime checks often use HEAD
    def healthz(daemon: bool = True) -> Response:
        """The answer of ``news-monitor health`` (monitor.views.health): 200 or 503, with the reason;
        ``?daemon=0`` is ``health --no-daemon``."""
        result = check_health(config, state.log, daemon=daemon)
        body = result.as_json()
        if result.checks.get("database") == "ok":
            try:
                feeds = feed_status(state.log.engine, config)
            except (*HANDLED, SQLAlchemyError):
                feeds = []
            body.update(feeds=len(feeds), feeds_failing=sum(1 for f in feeds if f["status"] in ("failing", "gone")))
        return JSONResponse(body, status_code=200 if result.ok else 503)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(exposition(state.metrics), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


def atom_validators(digest: Any, query: str) -> tuple[str, dt.datetime | None]:
    """The Atom feed's ETag and Last-Modified: from the tags it lists (and their review state) and its query,
    not from the time it was rendered, so an unchanged feed keeps its validators between polls."""
    shown = [(i["article_id"], i["topic"], i["position"], i["reviewed"]) for i in digest.items]
    tag = hashlib.sha256(json.dumps([query, shown]).encode()).hexdigest()[:32]
    times = [dt.datetime.fromisoformat(i["tagged_at"]) for i in digest.items if i.get("tagged_at")]
    return f'"{tag}"', max(times).replace(microsecond=0) if times else None


def not_modified(request: Request, etag: str, modified: dt.datetime | None) -> bool:
    """RFC 9110 §13.1.3: If-None-Match, when sent, decides; else If-Modified-Since."""
    given = request.headers.get("if-none-match")
    if given is not None:
        return etag in {v.strip().removeprefix("W/") for v in given.split(",")} or given.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since and modified is not None:
        try:
            return modified <= email.utils.parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _validator_headers(etag: str, modified: dt.datetime | None) -> dict[str, str]:
    headers = {"ETag": etag}
    if modified is not None:
        headers["Last-Modified"] = email.utils.format_datetime(modified.astimezone(dt.UTC), usegmt=True)
    return headers


async def _run(work: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(work)


def _review(state: WebState, refs: list[tuple[str, str, int]]) -> bool:
    if not refs:
        return False
    state.catch_up()
    check_known(state, refs)
    return mark_reviewed(state.log, refs, source="web")


def _topics(state: WebState) -> list[str]:
    """The configured topics, and any other the log has tags for (a topic removed from the config)."""
    with reading(state.log.engine) as conn:
        logged = queries.tagged_topics(conn)
    configured = [t.id for t in state.config.topics]
    return configured + sorted(logged - set(configured))


@asynccontextmanager
async def service_notifications() -> AsyncIterator[None]:
    """Under systemd (``Type=notify``): READY=1 once the app has started, WATCHDOG=1 from a task on the event
    loop that serves the requests (so a blocked loop stops the pings), STOPPING=1 at shutdown. A no-op
    without NOTIFY_SOCKET."""
    import asyncio

    notifier = Notifier()
    if not notifier.enabled:
        yield
        return

    async def ping(interval: float) -> None:
        while True:
            notifier.watchdog()
            await asyncio.sleep(interval / 2)

    notifier.ready("serving the review page")
    task = asyncio.create_task(ping(notifier.watchdog_interval)) if notifier.watchdog_interval else None
    try:
        yield
    finally:
        notifier.stopping()
        if task is not None:
            task.cancel()
        notifier.close()


def serve(config: Config, host: str | None = None, port: int | None = None) -> None:
    """Run the review page with uvicorn until interrupted (127.0.0.1:8080 unless the config or flags say)."""
    import socket

    import uvicorn

    host, port = host or config.web.host, port or config.web.port
    # Bind here, so that a port in use or a bad address is one MonitorError line like any other failure.
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise MonitorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    with listener:
        # The page answers to the host it is bound to (the Host check's default), the flag's as the config's.
        app = create_app(config.model_copy(update={"web": config.web.model_copy(update={"host": host, "port": port})}))
        # log_config=None: uvicorn's loggers propagate to ours (monitor.cli.logs), JSON lines included.
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", server_header=False, log_config=None))
        server.run(sockets=[listener])
