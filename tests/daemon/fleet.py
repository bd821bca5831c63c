"""What the worker tests share: a local site of many feeds that counts its hits, and worker processes.

``Site`` is a threaded HTTP server on 127.0.0.1. Feed ``i`` publishes a new entry every ``every`` seconds
(entries are a function of the time since the site started, so every published entry is known), answers
after ``latency`` seconds, and records each hit's time: the server's own count, to hold against the log's.
With ``churn``, a feed also edits its newest entry's title, changes the guid of an older one (same link), and
fails with a 503 for a second now and then.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.builders import REPO


def serve(handle: Callable[[BaseHTTPRequestHandler], None]) -> tuple[ThreadingHTTPServer, str]:
    """A threaded HTTP/1.1 server on 127.0.0.1 (a free port) that hands every GET to ``handle``, quietly; the
    server (shut it down when done) and its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            handle(self)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class Site:
    def __init__(self, feeds: int, *, every: float = 10.0, latency: float = 0.0, churn: bool = False) -> None:
        self.feeds = feeds
        self.every = every
        self.latency = latency
        self.churn = churn
        self.hits: dict[int, list[float]] = defaultdict(list)
        self.lock = threading.Lock()
        self.t0 = time.time()
        self.frozen_at: float | None = None  # once set, nothing new is published
        self.server, self.base = serve(self.handle)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, i: int) -> str:
        return f"{self.base}/feed/{i}.xml"

    def now(self) -> float:
        return self.frozen_at if self.frozen_at is not None else time.time()

    def published(self, i: int, at: float | None = None) -> list[int]:
        """The entries feed ``i`` has published by ``at`` (they are never withdrawn)."""
        elapsed = (at if at is not None else self.now()) - self.t0
        offset = (i * 0.37) % self.every  # feeds publish out of step
        return list(range(int((elapsed + offset) // self.every) + 1))

    def link(self, i: int, k: int) -> str:
        return f"{self.base}/a/{i}/{k}"

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        arrived = time.time()
        parts = request.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "feed":
            request.send_error(404)
            return
        i = int(parts[1].removesuffix(".xml"))
        with self.lock:
            self.hits[i].append(arrived)
        if self.latency:
            time.sleep(self.latency)
        if self.churn and self.frozen_at is None and int(arrived + i) % 17 == 0:
            request.send_error(503)  # a failure that comes and goes (one second in seventeen)
            return
        body = self.document(i).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/rss+xml")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def document(self, i: int) -> str:
        entries = self.published(i)
        items = []
        for k in reversed(entries):
            title = f"Feed {i} story {k}"
            guid = f"urn:feed{i}:{k}"
            if self.churn and k == entries[-1] and int(self.now()) % 2:
                title += " (updated)"  # an edit of the newest entry
            if self.churn and k == 0 and int(self.now()) % 3 == 0:
                guid = f"urn:feed{i}:{k}:reissued"  # the same story under a new guid
            when = format_datetime(dt.datetime.fromtimestamp(self.t0 + k * self.every, dt.UTC), usegmt=True)
            items.append(f"<item><title>{title}</title><link>{self.link(i, k)}</link><guid>{guid}</guid>"
                         f"<pubDate>{when}</pubDate><description>Story {k} of feed {i}.</description></item>")
        return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {i}</title>'
                f"<link>{self.base}/</link><description>d</description>{''.join(items)}</channel></rss>")


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class Workers:
    """Worker processes (``news-monitor worker``) on one config, their output in files under ``folder``."""

    def __init__(self, config: Path, folder: Path, *, concurrency: int = 4) -> None:
        self.config = config
        self.folder = folder
        self.concurrency = concurrency
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        out = open(self.folder / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(self.config), "worker",
                                 "--concurrency", str(self.concurrency)], stdout=out, stderr=subprocess.STDOUT,
                                env=worker_env(), cwd=REPO)
        self.procs.append(proc)
        return proc

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self, timeout: float = 30.0) -> list[int | None]:
        for proc in self.alive():
            proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(None)
        return codes

    def output(self, *, full: bool = False) -> str:
        """The workers' output: each one's end (for an assertion's message), or all of it."""
        return "\n".join(p.read_text(errors="replace")[None if full else -3000:]
                         for p in sorted(self.folder.glob("worker-*.log")))
