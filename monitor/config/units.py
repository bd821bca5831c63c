"""The units settings are written in: durations ("90s", "1h30m", "2d") and sizes ("64 KiB", "8MB"), each
parsed to one number (seconds, bytes) and bounded: no NaN, no infinity, nothing past 30 days or 1 GiB, so a
typo can never become a poll interval of centuries or a body limit no machine holds.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3}
# Past these a value is a typo, not a setting: no wait, timeout or interval of the monitor needs more than a
# month, and no body it fetches or parses more than a gibibyte. They also keep NaN and infinities out, which
# pass a "> 0" test and then crash every poll (sleep(nan), a timer of inf).
MAX_DURATION = 30 * 86400.0
MAX_SIZE = 1024**3


def parse_duration(value: Any) -> float:
    """Seconds from ``"15m"``, ``"1h30m"``, ``"45s"``, ``"2d"`` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as \"15m\"")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("-"):
            raise ValueError(f"duration must be positive, got {value!r}")
        pos, seconds = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if text[pos:match.start()].strip():
                break
            seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]
            pos = match.end()
        if not text or pos != len(text):
            raise ValueError(f"invalid duration {value!r} (expected e.g. \"30s\", \"15m\", \"1h30m\")")
    else:
        raise ValueError(f"invalid duration {value!r} (expected e.g. \"15m\")")
    if not math.isfinite(seconds):
        raise ValueError(f"duration must be a finite number of seconds, got {value!r}")
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {value!r}")
    if seconds > MAX_DURATION:
        raise ValueError(f"duration {value!r} is longer than the 30 days allowed")
    return seconds


def parse_size(value: Any) -> int:
    """Bytes from ``"10MB"``, ``"512 KiB"`` or a plain integer."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as \"10MB\"")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE.match(value)):
        amount = float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()]
        if not math.isfinite(amount) or amount > MAX_SIZE:  # float("9"*400) is inf: int() of it would raise
            raise ValueError(f"size {value!r} is larger than the 1 GiB allowed")
        size = int(amount)
    else:
        raise ValueError(f"invalid size {value!r} (expected e.g. \"10MB\" or a number of bytes)")
    if size <= 0:
        raise ValueError(f"size must be positive, got {value!r}")
    if size > MAX_SIZE:
        raise ValueError(f"size {value!r} is larger than the 1 GiB allowed")
    return size


def _parse_duration_or_zero(value: Any) -> float:
    return 0.0 if value in (0, "0", "0s") else parse_duration(value)


Duration = Annotated[float, BeforeValidator(parse_duration)]
DurationOrZero = Annotated[float, BeforeValidator(_parse_duration_or_zero)]
Size = Annotated[int, BeforeValidator(parse_size)]
