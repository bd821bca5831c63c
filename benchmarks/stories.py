"""Story grouping speed: the digest groups every window's mentions into stories. It prints the time
``group_stories`` takes on 500 documents as a ratio to the time scikit-learn's ``TfidfVectorizer`` takes to
vectorise the same texts once (the floor of any TF-IDF grouping), measured in the same run.

    python benchmarks/stories.py [--rounds 3] [--documents 500]

The documents are the full-text items of ../shared/data/articles/dev.jsonl, cycled and dated over two weeks.
Target (informative, no issue sets one): grouping <= 5x one vectorisation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from report import Report, best_of  # benchmarks/report.py: run as a script, this folder is on the path
from sklearn.feature_extraction.text import TfidfVectorizer

from monitor.digest.stories import StoryDoc, group_stories

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TARGET = 5.0


def documents(count: int) -> list[StoryDoc]:
    items = [json.loads(line) for line in (SHARED / "data" / "articles" / "dev.jsonl").read_text().splitlines()
             if line.strip()]
    texts = [(str(i.get("title") or ""), str(i.get("text") or i.get("summary") or "")) for i in items]
    texts = [t for t in texts if t[1]]
    start = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
    return [StoryDoc(texts[n % len(texts)][0], texts[n % len(texts)][1], start + dt.timedelta(hours=n % 336))
            for n in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--documents", type=int, default=500)
    args = parser.parse_args()
    docs = documents(args.documents)
    ours = best_of(args.rounds, lambda: group_stories(docs))
    base = best_of(args.rounds, lambda: TfidfVectorizer().fit_transform([f"{d.title}\n{d.text}" for d in docs]))
    report = Report(f"story grouping, {len(docs)} documents, best of {args.rounds}")
    report.add("group_stories", f"{ours:.3f} s")
    report.add("TfidfVectorizer.fit_transform (baseline)", f"{base:.3f} s")
    report.add("ratio", f"{ours / base:.2f}x", f"<= {TARGET:.0f}x", ours / base <= TARGET, binding=False)
    report.print()
    return 1 if report.misses() else 0


if __name__ == "__main__":
    sys.exit(main())
