"""The exception tree of news-monitor: every error it raises on purpose, in one picture.

Library and driver errors are translated at the boundary into these, raised ``from`` the original, so that
the CLI, the daemon and the web page can turn any of them into one clear line (never a traceback). A bad
*input* (one entry, one page, one feed) is not an exception that escapes: the pipeline records it as an
event with the same ``reason`` code and goes on.

    Exception
    ├── MonitorError                 anything news-monitor raises on purpose
    │   ├── ConfigError              the config file is missing, is not TOML, or cannot be used
    │   │   └── InvalidConfig        it parsed but fails validation; ``errors`` lists every problem
    │   ├── FeedError                a feed or page could not be read; ``reason`` is a stable code
    │   │   ├── FetchError           fetching failed: network, HTTP status, size or time limits, the
    │   │   │                        private-address guard (``timeout``, ``http_404``, ``private_address``)
    │   │   └── ParseError           the body was fetched but is not a feed (``not_a_feed``, ``empty_body``)
    │   └── DeliveryError            a digest channel could not deliver (``smtp_auth``, ``http_500``)
    └── StorageError                 (storage.errors) the event log or a view cannot be reached, read or
        └── ConcurrencyError         written; a stream's expected version did not hold

``StorageError`` belongs to the storage layer, which knows nothing of this package; it is re-exported here so
that callers find the whole tree in one place, and ``HANDLED`` names both roots for ``except`` clauses at the
boundaries. Reason codes are data (they are recorded in events and shown to users), so they never change.
"""

from __future__ import annotations

from storage.errors import ConcurrencyError, StorageError


class MonitorError(Exception):
    """Base of every error news-monitor raises on purpose (storage's own errors aside: see ``HANDLED``)."""


class ConfigError(MonitorError):
    """The configuration cannot be used. The message names the file, the line, the key and the problem."""


class InvalidConfig(ConfigError):
    """A config that fails validation. The message is its first problem; ``errors`` lists every one, each a line
    ``<file>:<line>: <key path>: <problem>``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(errors[0])
        self.errors = errors


class FeedError(MonitorError):
    """A feed (or a page) could not be read. ``reason`` is a stable, machine-readable code such as ``http_404``,
    recorded as the ``reason`` of a FeedFailed or ExtractionFailed event."""

    def __init__(self, reason: str, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status
        self.retry_after = retry_after


class FetchError(FeedError):
    """Fetching failed before there was a body to read: the network, the HTTP status, a limit or the guard."""


class ParseError(FeedError):
    """A body was fetched, but it is not a feed this program can read."""


class DeliveryError(MonitorError):
    """A digest channel could not deliver. ``reason`` is a stable code such as ``smtp_auth`` or ``http_500``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


HANDLED: tuple[type[Exception], ...] = (MonitorError, StorageError)
"""The roots of every error raised on purpose: what a boundary turns into one line."""

__all__ = ["ConcurrencyError", "ConfigError", "DeliveryError", "FeedError", "FetchError", "HANDLED",
           "InvalidConfig", "MonitorError", "ParseError", "StorageError"]
