"""Tagging quality on labelled news items: precision, recall and F1 for `summit` against everything else,
and the false-positive rate on `near_miss`, overall, for each language and for each `text_kind`.

The language of an item is its `language` field where the data has one (dev2.jsonl), else the language
`tag` detected; where the data has one, how often detection agrees with it is printed too.

It runs the real command, `news-monitor tag`, over the JSON lines, exactly as a user would:

    python benchmarks/tagging_quality.py [--data ../shared/data/articles/dev.jsonl] [--config config/monitor.toml]
                                         [--errors]

Tune only on dev.jsonl; eval.jsonl has no labels.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOPIC = "india-russia-summit"


def tag(data: Path, config: Path) -> tuple[dict[str, dict], dict[str, str | None], float]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "tag", "--input", str(data)],
        capture_output=True, text=True, cwd=REPO, check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"news-monitor tag failed: {result.stderr.strip()}")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {row["id"]: row["topics"][TOPIC] for row in rows}, {row["id"]: row.get("language") for row in rows}, elapsed


def scores(rows: list[tuple[str, bool]]) -> dict[str, float | int]:
    tp = sum(1 for label, p in rows if label == "summit" and p)
    fp = sum(1 for label, p in rows if label != "summit" and p)
    fn = sum(1 for label, p in rows if label == "summit" and not p)
    near = [p for label, p in rows if label == "near_miss"]
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"n": len(rows), "summit": tp + fn, "tp": tp, "fp": fp, "fn": fn, "precision": precision,
            "recall": recall, "f1": f1, "near_miss": len(near),
            "near_miss_fpr": sum(near) / len(near) if near else float("nan")}


def fmt(value: float | int) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "articles" / "dev.jsonl")
    parser.add_argument("--config", type=Path, default=REPO / "config" / "monitor.toml")
    parser.add_argument("--errors", action="store_true", help="List the misclassified items.")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"no data at {args.data} (../shared is needed for this benchmark)")
    items = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not all("label" in item for item in items):
        sys.exit(f"{args.data} has no labels: use the labelled dev set")
    predictions, detected, elapsed = tag(args.data, args.config)

    kinds: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    languages: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for item in items:
        predicted = bool(predictions[item["id"]]["mention"])
        kinds["ALL"].append((item["label"], predicted))
        kinds[item["text_kind"]].append((item["label"], predicted))
        languages[str(item.get("language") or detected[item["id"]])].append((item["label"], predicted))

    columns = ["n", "summit", "tp", "fp", "fn", "precision", "recall", "f1", "near_miss", "near_miss_fpr"]
    width = max(len(k) for k in kinds) + 2
    print(f"news-monitor tag on {args.data.name}: {len(items)} items in {elapsed:.2f}s (process start included)")
    for heading, groups in (("text_kind", kinds), ("language", languages)):
        print(heading.ljust(width) + "".join(c.rjust(14) for c in columns))
        for kind in ["ALL", *sorted(k for k in groups if k != "ALL")] if "ALL" in groups else sorted(groups):
            row = scores(groups[kind])
            print(kind.ljust(width) + "".join(fmt(row[c]).rjust(14) for c in columns))
    given = [item for item in items if item.get("language")]
    if given:
        agree = sum(1 for item in given if detected[item["id"]] == item["language"])
        print(f"detected language = the data's: {agree} of {len(given)}")
    if args.errors:
        print("\nmisclassified:")
        for item in items:
            result = predictions[item["id"]]
            if bool(result["mention"]) != (item["label"] == "summit"):
                print(f"  [{item['label']}] {detected[item['id']]} score={result['score']:.3f} "
                      f"{(item['title'] or item['text'])[:100]!r}")


if __name__ == "__main__":
    main()
