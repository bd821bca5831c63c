"""A benchmark's result table: one row a figure, with its target and PASS/MISS. Shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


def best_of(rounds: int, run: Callable[[], object]) -> float:
    """The fastest of ``rounds`` timed runs of ``run``, in seconds (the least disturbed by a noisy machine)."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


@dataclass
class Row:
    label: str
    value: str
    target: str = ""
    verdict: str = ""


@dataclass
class Report:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, label: str, value: str, target: str = "", ok: bool | None = None, binding: bool = True) -> None:
        """A figure; ``ok`` gives it PASS or MISS, in brackets when the target is informative (not binding)."""
        verdict = "" if ok is None else ("PASS" if ok else "MISS")
        if verdict and not binding:
            verdict = f"({verdict})"
        self.rows.append(Row(label, value, target, verdict))

    def misses(self) -> list[str]:
        return [f"{self.title}: {row.label}" for row in self.rows if row.verdict == "MISS"]

    def print(self) -> None:
        print(f"\n== {self.title}")
        width = max((len(r.label) for r in self.rows), default=8) + 2
        vwidth = max((len(r.value) for r in self.rows), default=8) + 2
        twidth = max((len(r.target) for r in self.rows), default=8) + 2
        for r in self.rows:
            print(f"  {r.label.ljust(width)}{r.value.rjust(vwidth)}   {r.target.ljust(twidth)}{r.verdict}".rstrip())
        for note in self.notes:
            print(f"  - {note}")
