"""The loop of ``monitor.ingest.parse_pool``'s worker processes. It imports the parser and what it needs, not
the extractor (trafilatura): a parse worker starts in a fraction of a second."""

from __future__ import annotations

import os
import pickle
import resource
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from monitor.errors import FeedError
from monitor.ingest import lifeline
from monitor.ingest.parse import parse_feed


def serve(conn: Connection, max_memory: int) -> None:
    """A parse worker's loop: (body, URL, headers, preparing) in, ``("ok", ParsedFeed, prepared)`` or ``("error",
    reason, message, status)`` out; anything else it meets (a bug, no memory) is ``("failed", why)`` and the caller
    parses. ``preparing``: None, or a generation and (when it is new to this worker) a pickled callable, applied
    to each entry of the feed (``ParsePool.parse_and_prepare``): ``prepared`` lists what it gave, None for an
    entry where it raised, and is None when no callable of that generation is held."""
    resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))
    # A tagger sent here brings numpy: one BLAS thread, whose buffers fit the cap on a machine of many cores.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    lifeline.hold()
    conn.send("ready")
    held: tuple[int, Callable[[Any], Any] | None] | None = None  # the preparer's generation and callable
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError, MemoryError):
            return
        if job is None:
            return
        content, url, headers, preparing = job
        try:
            parsed = parse_feed(content, url, headers)
            if preparing is not None and preparing[1] is not None:
                held = (preparing[0], _loaded(preparing[1]))
            prepare = held[1] if held is not None and preparing is not None and held[0] == preparing[0] else None
            answer: tuple[Any, ...] = ("ok", parsed, None if prepare is None else
                                       [_prepared(prepare, entry) for entry in parsed.entries])
        except FeedError as error:
            answer = ("error", error.reason, error.message, error.status)
        except MemoryError:
            del job, content
            conn.send(("failed", "out of memory"))
            return
        except Exception as exc:  # noqa: BLE001 - the caller parses it again, in its process, and records that
            answer = ("failed", f"{type(exc).__name__}: {exc}"[:300])
        conn.send(answer)


def _loaded(blob: bytes) -> Callable[[Any], Any] | None:
    try:
        return pickle.loads(blob)  # noqa: S301 - our own daemon's tagger, over its own pipe
    except Exception:  # noqa: BLE001 - then the daemon prepares this generation's entries itself
        return None


def _prepared(prepare: Callable[[Any], Any], entry: Any) -> Any:
    try:
        return prepare(entry)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - the daemon prepares this entry itself, and records why it failed
        return None
