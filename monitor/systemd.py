"""systemd's notify protocol (sd_notify(3)), spoken directly: a few lines over an AF_UNIX datagram socket.

systemd passes ``NOTIFY_SOCKET`` to a ``Type=notify`` service: a filesystem path, or an abstract-namespace
name written with a leading ``@`` (sent with a leading NUL byte). Each message is newline-separated
``KEY=VALUE`` assignments in one datagram: ``READY=1`` (startup finished: we are polling), ``STATUS=...``
(one line ``systemctl status`` shows), ``WATCHDOG=1`` (alive; ``WatchdogSec=`` sets ``WATCHDOG_USEC`` and,
when it is for us, ``WATCHDOG_PID``), ``STOPPING=1`` (shutting down). Without ``NOTIFY_SOCKET`` (not under
systemd) every call is a no-op, so the daemon speaks it unconditionally.

No library: the protocol is this small, and the candidates (sdnotify, systemd-python) either lag on the
abstract namespace or need libsystemd headers to build.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    """The service manager's notify socket, or nothing when there is none."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval = _watchdog_interval(env)
        self._socket: socket.socket | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: str) -> bool:
        """Send ``KEY=VALUE`` assignments in one datagram; False when there is no socket or it failed (a
        failure is logged once: the service manager going away must not stop polling)."""
        if self.address is None:
            return False
        message = "\n".join(f"{key}={' '.join(str(value).split())}" for key, value in fields.items())
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto(message.encode("utf-8"), self.address)
        except OSError as exc:
            if not self._warned:
                log.warning("cannot notify systemd at %s: %s", os.environ.get("NOTIFY_SOCKET"), exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send(READY="1", STATUS=status)

    def status(self, status: str) -> bool:
        return self.send(STATUS=status)

    def watchdog(self) -> bool:
        return self.send(WATCHDOG="1")

    def stopping(self, status: str = "stopping") -> bool:
        return self.send(STOPPING="1", STATUS=status)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _address(value: str) -> str | bytes | None:
    if not value:
        return None
    if value.startswith("@"):  # the abstract namespace (Linux): a leading NUL, no file
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # vsock and other schemes: not supported, so treated as absent


def _watchdog_interval(env: os._Environ[str] | dict[str, str]) -> float | None:
    """``WatchdogSec=`` in seconds, when the watchdog is on and meant for this process (sd_watchdog_enabled)."""
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 1_000_000
