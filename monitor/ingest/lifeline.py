"""A worker process's tie to the daemon: it exits when the daemon does, even in the middle of its work, so that
a daemon that exits at once (``os._exit`` after the shutdown grace) leaves no worker behind. Standard library
only: every worker process imports it before it can work."""

from __future__ import annotations

import os
import threading
import time


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def hold() -> None:
    """Exit this process once its parent is gone (a daemon thread checks every second)."""
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
