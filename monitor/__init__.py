"""news-monitor: an event-sourced news monitoring daemon."""

from __future__ import annotations

import ctypes
import os
import sys

__version__ = "0.1.0"


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas, as MALLOC_ARENA_MAX does (unless the user set that).

    glibc gives each new thread its own arena; the daemon's polling threads each grow and fragment one, so
    its resident memory grows by several MB per thread for no benefit (the GIL serialises most of their
    allocations anyway). Set before any worker thread starts; a no-op on other C libraries."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        pass


_limit_malloc_arenas()
