"""Absurd numbers are refused with their file and line: NaN, infinities, and durations or sizes past sane
bounds (30 days, 1 GiB) pass a "greater than zero" test and then crash every poll, so they never get that far.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from tests.config.test_config import load_error, strip_prefix, write

ABSURD = [
    ("NaN timeout", "[network]\nconnect_timeout = nan\n",
     "2: network.connect_timeout: duration must be a finite number of seconds, got nan"),
    ("infinite timeout", "[network]\nread_timeout = inf\n",
     "2: network.read_timeout: duration must be a finite number of seconds, got inf"),
    ("negative infinity", "[network]\ntotal_timeout = -inf\n",
     "2: network.total_timeout: duration must be a finite number of seconds, got -inf"),
    ("an interval of 10^20 hours", '[[feeds]]\nname = "a"\nurl = "https://example.com/f"\n'
                                   'interval = "99999999999999999999h"\n',
     "4: feeds[0].interval: duration '99999999999999999999h' is longer than the 30 days allowed"),
    ("a backoff of 31 days", '[scheduler]\nmax_backoff = "31d"\n',
     "2: scheduler.max_backoff: duration '31d' is longer than the 30 days allowed"),
    ("seconds past the bound", "[digest]\nretry_delay = 1e300\n",
     "2: digest.retry_delay: duration 1e+300 is longer than the 30 days allowed"),
    ("a body limit of 2 GiB", '[network]\nmax_body_size = "2GiB"\n',
     "2: network.max_body_size: size '2GiB' is larger than the 1 GiB allowed"),
    ("a size as a huge integer", "[network]\nmax_decompressed_size = 99999999999999999\n",
     "2: network.max_decompressed_size: size 99999999999999999 is larger than the 1 GiB allowed"),
    ("a NaN weight", '[[topics]]\nid = "t"\ntitle = "T"\nthreshold = nan\n[topics.keywords]\na = ["x"]\n',
     "4: topics[0] ('t').threshold: Input should be a finite number"),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in ABSURD], ids=[case[0] for case in ABSURD])
def test_absurd_numbers_are_refused_with_their_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    assert strip_prefix(load_error(path), path) == expected


def test_the_bounds_themselves_are_allowed(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[network]\nmax_body_size = "1GiB"\n[scheduler]\nmax_backoff = "30d"\n'))
    assert config.network.max_body_size == 1024**3
    assert config.scheduler.max_backoff == 30 * 86400
