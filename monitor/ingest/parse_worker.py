"""The loop of ``monitor.ingest.parse_pool``'s worker processes. It imports the parser and what it needs, not
the extractor (trafilatura): a parse worker starts in a fraction of a second."""

from __future__ import annotations

import resource
from multiprocessing.connection import Connection
from typing import Any

from monitor.errors import FeedError
from monitor.ingest import lifeline
from monitor.ingest.parse import parse_feed


def serve(conn: Connection, max_memory: int) -> None:
    """A parse worker's loop: (body, URL, headers) in, ``("ok", ParsedFeed)`` or ``("error", reason, message,
    status)`` out; anything else it meets (a bug, no memory) is ``("failed", why)`` and the caller parses."""
    resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))
    lifeline.hold()
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError, MemoryError):
            return
        if job is None:
            return
        content, url, headers = job
        try:
            answer: tuple[Any, ...] = ("ok", parse_feed(content, url, headers))
        except FeedError as error:
            answer = ("error", error.reason, error.message, error.status)
        except MemoryError:
            del job, content
            conn.send(("failed", "out of memory"))
            return
        except Exception as exc:  # noqa: BLE001 - the caller parses it again, in its process, and records that
            answer = ("failed", f"{type(exc).__name__}: {exc}"[:300])
        conn.send(answer)
