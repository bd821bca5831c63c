"""A service manager's end of systemd's notify socket, for the tests of what speaks to it (monitor.systemd)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


class NotifySocket:
    """A service manager's end of NOTIFY_SOCKET: an AF_UNIX datagram socket, every message kept with the time
    it came (monotonic)."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
            self.messages.append((time.monotonic(), fields))

    def having(self, key: str) -> list[tuple[float, dict[str, str]]]:
        return [(at, fields) for at, fields in list(self.messages) if key in fields]

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


@contextmanager
def abstract_notify_socket(prefix: str = "news-monitor-test") -> Iterator[tuple[str, NotifySocket]]:
    """A fresh abstract-namespace socket: its NOTIFY_SOCKET value (``@name``) and the manager's end."""
    name = f"{prefix}-{uuid.uuid4().hex}"
    manager = NotifySocket(b"\0" + name.encode())
    try:
        yield f"@{name}", manager
    finally:
        manager.close()
