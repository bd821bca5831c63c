"""The exception tree of news-monitor.

Library and driver errors are translated at the boundary into these, raised ``from`` the
original, so that the CLI can turn any of them into one clear line and a non-zero exit:

    MonitorError
    ├── ConfigError          the config file is missing, is not TOML, or fails validation
    ├── StorageError         the database cannot be opened, written or read
    │   └── ConcurrencyError a stream's expected version did not hold
    ├── FetchError           a feed or page could not be fetched (carries a reason code)
    └── PipelineError        a stage could not run at all (not a bad input: those are events)
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error news-monitor raises on purpose."""


class ConfigError(MonitorError):
    """The configuration cannot be used. The message names the file, the key and the problem."""


class StorageError(MonitorError):
    """The event log or a read model could not be reached, read or written."""


class ConcurrencyError(StorageError):
    """An append found a stream at another version than the caller expected."""


class PipelineError(MonitorError):
    """The pipeline itself could not run (as opposed to one feed failing, which is an event)."""


class FetchError(MonitorError):
    """A fetch failed. ``reason`` is a stable, machine-readable code such as ``http_404``."""

    def __init__(self, reason: str, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status
        self.retry_after = retry_after
