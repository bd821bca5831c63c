"""Hot reload: the daemon applies a changed config file without a restart.

A watcher thread (watchfiles, on the file's folder, so an editor that saves by writing a new file and
renaming it over the old one is seen too) and SIGHUP ask for a reload; a check of the file's size and
modification time every second is the safety net (a file system that sends no events, a watcher that
died). One worker thread does the reloads, one at a time:

- the file is loaded exactly as at start (the same CLI flags and NEWS_MONITOR_* overrides apply);
- invalid, or empty (blanks and comments only: a truncated save): ``ConfigRejected`` (the errors, the
  version kept running) and the daemon goes on with the last
  good config. Its key is the file's hash and the last ``ConfigChanged``, so one bad save is recorded once;
- valid and of a new version (comments and layout do not count): ``ConfigChanged`` with the diff against
  the config the log last recorded, then the new config is applied: the next poll tags with the new topics,
  new feeds are polled now, removed feeds are no longer polled, feeds whose URL or interval changed are
  polled now and scheduled afresh. Settings read once at start (storage, network, web, the scheduler's
  worker counts) are recorded and logged as taking effect after a restart; until then the running values
  stay in force. Topics with ``retag_on_change`` whose keywords or rules changed are retagged over that
  window, in a thread of their own, so polling never waits for it.

At start the daemon records ``ConfigChanged`` (source ``start``) when its config is not the one the log last
recorded. Nothing here stops the daemon: a failure is logged, and the running config stays.

The reloader changes the daemon's jobs through ``Schedule``, which monitor.daemon.run.Daemon provides: the
dependency points one way, from the daemon to the reloader.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from monitor.config import Config, config_errors
from monitor.config.diff import config_version, diff_configs, feed_changes, snapshot, topics_to_retag
from monitor.errors import ConfigError
from monitor.events import catalogue as ev
from monitor.pipeline import Monitor
from storage.eventlog import EventLog, RecordedEvent

log = logging.getLogger(__name__)

DEBOUNCE_MS = 200
STAT_INTERVAL = 1.0  # seconds between looks at the file's size and modification time


def last_config_changed(event_log: EventLog) -> RecordedEvent | None:
    """The last ConfigChanged in the log: the config in force, as recorded."""
    last = None
    for event in event_log.read(types=[ev.CONFIG_CHANGED], stream=ev.CONFIG_STREAM):
        last = event
    return last


class Schedule(Protocol):
    """What the reloader changes in the running daemon's schedule (monitor.daemon.run.Daemon). The jobs follow
    the monitor's config, which the reloader has applied just before."""

    def add_feed(self, name: str, due: dt.datetime) -> None:
        """Schedule the feed's job (replacing any), first run at ``due``."""
        ...

    def remove_feed(self, name: str) -> None:
        """Remove the feed's job, if there is one."""
        ...

    def move_feed(self, name: str, at: dt.datetime) -> bool:
        """Move the feed's job to ``at``; False when the feed has no job."""
        ...

    def sync_digest(self) -> None:
        """Add, move or remove the scheduled digest's job to match ``[digest] schedule``."""
        ...


class Reloader:
    """Applies changes of the config file to a running monitor (and its schedule, when given one)."""

    def __init__(self, monitor: Monitor, load: Callable[[], Config], *, schedule: Schedule | None = None,
                 path: Path | None = None) -> None:
        self.monitor = monitor
        self.load = load
        self.schedule = schedule
        self.path = path or monitor.config.source
        self.loaded: Config = monitor.config  # the last good config as loaded (before restart-only keys are kept)
        self.version = config_version(self.loaded)
        self._requests: queue.SimpleQueue[str | None] = queue.SimpleQueue()  # put() is safe in a signal handler
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one reload at a time
        self._retag_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._seen = self._stat()
        self._last_hash = self._file_hash()

    # -- recording -------------------------------------------------------------------------------------

    def record_start(self) -> bool:
        """Record ConfigChanged (source "start") when the config differs from the one the log last recorded.
        Returns whether this call recorded it."""
        last = last_config_changed(self.monitor.log)
        if last is not None and last.data.get("version") == self.version:
            return False
        return self._record(self.loaded, "start", last)

    def _record(self, config: Config, source: str, last: RecordedEvent | None) -> bool:
        data = snapshot(config)
        version = config_version(data)
        diff, summary = diff_configs(last.data.get("config", {}) if last else {}, data)
        event = ev.config_changed(version, last.position if last else 0, self.monitor.clock(), {
            "previous_version": last.data.get("version") if last else None, "source": source,
            "file": str(self.path) if self.path else None, "diff": diff, "summary": summary, "config": data})
        recorded = bool(self.monitor.log.append([event]).recorded)
        if last is None:
            log.info("config %s recorded: %d feed(s), %d topic(s)", version, len(config.feeds), len(config.topics))
        else:
            for line in summary:
                log.info("config %s: %s", version, line)
        return recorded

    # -- reloading -------------------------------------------------------------------------------------

    def reload(self, source: str = "file") -> str:
        """Load the file and apply it. Returns "changed", "unchanged" or "rejected"."""
        with self._lock:
            file_hash = self._file_hash()
            try:
                self._refuse_empty()
                new = self.load()
            except ConfigError as exc:
                return self._reject(exc, file_hash)
            self._last_hash = file_hash
            version = config_version(new)
            if version == self.version:
                log.info("config %s saved with no change to the settings (version %s)", self.path, version)
                return "unchanged"
            last = last_config_changed(self.monitor.log)
            base = last.data.get("config", {}) if last is not None and last.data.get("version") != version \
                else snapshot(self.loaded)  # another worker recorded this change: diff against ours, for the logs
            diff, summary = diff_configs(base, snapshot(new))
            if last is None or last.data.get("version") != version:
                self._record(new, source, last)
            else:
                for line in summary:
                    log.info("config %s: %s", version, line)
            previous = self.monitor.config
            self.loaded, self.version = new, version
            self._apply(previous, new, diff)
            return "changed"

    def _refuse_empty(self) -> None:
        """An empty file, or one of blanks and comments only, is a save caught half-way or a truncation, not
        a wish to stop watching every feed and topic: refused, the running config stays."""
        if not self.path:
            return
        try:
            text = Path(self.path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return  # missing or unreadable: the loader says so, with its own message
        if all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
            raise ConfigError(f"{self.path}: the config file is empty (truncated, or caught while being "
                              "written); the running config stays")

    def _reject(self, error: ConfigError, file_hash: str | None) -> str:
        errors = config_errors(error)
        log.warning("config %s rejected, still running version %s: %s", self.path, self.version, "; ".join(errors))
        if file_hash is None:  # the file is gone or unreadable: nothing to key the event by
            return "rejected"
        self._last_hash = file_hash
        last = last_config_changed(self.monitor.log)
        self.monitor.log.append([ev.config_rejected(file_hash, last.position if last else 0, self.monitor.clock(), {
            "file": str(self.path) if self.path else None, "errors": errors, "running_version": self.version})])
        return "rejected"

    def _effective(self, new: Config) -> Config:
        """``new``, with the settings read once at start kept at their running values until a restart."""
        running = self.monitor.config
        scheduler = new.scheduler.model_copy(update={"max_workers": running.scheduler.max_workers,
                                                     "max_per_host": running.scheduler.max_per_host})
        return new.model_copy(update={"storage": running.storage, "network": running.network,
                                      "web": running.web, "extract": running.extract, "scheduler": scheduler})

    def _apply(self, previous: Config, new: Config, diff: dict[str, Any]) -> None:
        effective = self._effective(new)
        self.monitor.apply_config(effective)
        for key in diff.get("restart_required", []):
            log.warning("config: %s changed; it takes effect after a restart", key)
        if self.schedule is not None:
            self._reschedule(self.schedule, previous, effective)
        windows = {t.id: t.retag_on_change for t in effective.topics if t.retag_on_change}
        retag = [(tid, windows[tid]) for tid in topics_to_retag(diff) if tid in windows]
        if retag:
            thread = threading.Thread(target=self.retag, args=(effective, retag), name="retag-on-change", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _reschedule(self, schedule: Schedule, previous: Config, new: Config) -> None:
        added, removed, moved = feed_changes(previous, new)
        now = self.monitor.clock()
        for name in removed:
            schedule.remove_feed(name)
        for name in added:
            schedule.add_feed(name, now)
        for name in moved:
            if not schedule.move_feed(name, now):
                schedule.add_feed(name, now)
        schedule.sync_digest()
        if added or removed or moved:
            log.info("feeds: %d added, %d removed, %d rescheduled", len(added), len(removed), len(moved))

    def retag(self, config: Config, topics: list[tuple[str, float]]) -> int:
        """Retag each topic's articles published within its window; return the events recorded. Never raises."""
        from monitor.tagging.retag import plan, record

        recorded = 0
        with self._retag_lock:
            for topic, window in topics:
                try:
                    since = self.monitor.clock() - dt.timedelta(seconds=window)
                    self.monitor.projections.catch_up()
                    changes = plan(config, self.monitor.log, self.monitor.tagger, topic=topic, since=since)
                    count = record(self.monitor.log, changes)
                    self.monitor.projections.catch_up()
                    recorded += count
                    log.info("retagged %s since %s: %d change(s), %d event(s) recorded", topic,
                             since.isoformat(timespec="seconds"), len(changes), count)
                except Exception:
                    log.exception("retag of %s after the config change failed", topic)
        return recorded

    # -- watching --------------------------------------------------------------------------------------

    def request(self, source: str = "sighup") -> None:
        """Ask for a reload (safe to call from a signal handler)."""
        self._requests.put(source)

    def start(self) -> Reloader:
        if self.path is None:
            return self
        for target, name in ((self._watch, "config-watch"), (self._work, "config-reload")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("watching %s for changes (and SIGHUP)", self.path)
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._requests.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def _watch(self) -> None:
        import watchfiles

        assert self.path is not None
        name = self.path.name
        try:
            for _changes in watchfiles.watch(self.path.parent, watch_filter=lambda _c, p: Path(p).name == name,
                                             debounce=DEBOUNCE_MS, step=50, stop_event=self._stop, recursive=False,
                                             raise_interrupt=False):
                self._requests.put("file")
        except Exception:
            log.exception("watching %s failed; its changes are still seen within %gs", self.path, STAT_INTERVAL)

    def _work(self) -> None:
        self._since_start()
        while not self._stop.is_set():
            try:
                source = self._requests.get(timeout=STAT_INTERVAL)
            except queue.Empty:
                source = "file" if self._stat() != self._seen and self._settled() else ""
            if source is None or self._stop.is_set():
                return
            if not source:
                continue
            self._seen = self._stat()
            if source == "file" and self._file_hash() == self._last_hash:
                continue  # an event for bytes already seen (a touch, our own check catching up)
            try:
                self.reload(source)
            except Exception:  # a storage outage or a bug: the running config stays
                log.exception("config reload failed; still running version %s", self.version)

    def _since_start(self) -> None:
        """A save made while this process started (after its config was read, before this reloader first looked
        at the file: a worker's first catch-up of the views takes seconds) is applied now. Without this, the
        reloader took the saved bytes for those loaded, and the process ran its old config until the next save."""
        try:
            version: str | None = config_version(self.load())
        except ConfigError:
            version = None  # invalid now: the reload below rejects it, and records why
        except Exception:  # a bug or an outage: watching goes on as before
            log.exception("could not compare %s with the config in force", self.path)
            return
        if version != self.version:
            self._last_hash = None
            self._requests.put("file")

    def _settled(self) -> bool:
        """Whether the file stayed the same for a debounce period (not caught in the middle of a write)."""
        before = self._stat()
        return not self._stop.wait(DEBOUNCE_MS / 1000) and self._stat() == before

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path) if self.path else None
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino) if st else None

    def _file_hash(self) -> str | None:
        try:
            return hashlib.sha256(Path(self.path).read_bytes()).hexdigest()[:16] if self.path else None
        except OSError:
            return None


def start_reloader(monitor: Monitor, schedule: Schedule | None,
                   load: Callable[[], Config] | None = None) -> Reloader:
    """Record the config in force at start (when it is new to the log) and start watching its file."""
    from monitor.config import load_config

    source = monitor.config.source
    reloader = Reloader(monitor, load or (lambda: load_config(source)), schedule=schedule)
    try:
        reloader.record_start()
    except Exception:  # the daemon runs without the record: polling matters more
        log.exception("the config in force could not be recorded")
    return reloader.start()
