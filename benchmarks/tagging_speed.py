"""Tagging speed: is tagging ever the bottleneck? It prints articles/s on full-text items, and the time our
tagger takes on the text of real news pages as a ratio to the time ``trafilatura.extract`` takes on the
pages themselves, measured in the same run. Target: tagging <= 10% of extraction time.

    python benchmarks/tagging_speed.py [--rounds 3] [--config config/monitor.toml]

Pages: ../shared/data/extraction/scrapinghub-benchmark (181 real news pages). Full-text items: the
full-text kinds of ../shared/data/articles/dev.jsonl, the Russian and Hindi items of dev2.jsonl (stemmed
terms, danda splits), and the two seed articles (which match, so every
step of tagging runs on them: sentences, dates, similarity per sentence).

Tagging is timed in full (``skip_hopeless=False``: every sentence is tokenised and matched, and the
similarity computed), which is the worst case; the pipeline's prefilter, which skips articles where the
rule cannot hold, is shown beside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import trafilatura
from report import Report, best_of  # benchmarks/report.py: run as a script, this folder is on the path

from monitor.config import load_config
from monitor.tagging.rules import Tagger

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TARGET = 0.10  # tagging time / extraction time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--config", type=Path, default=REPO / "config" / "monitor.toml")
    args = parser.parse_args()
    pages_dir = SHARED / "data" / "extraction" / "scrapinghub-benchmark" / "html"
    if not pages_dir.is_dir():
        sys.exit(f"no pages at {pages_dir} (../shared is needed for this benchmark)")
    pages = [gzip.decompress(p.read_bytes()).decode("utf-8", "replace") for p in sorted(pages_dir.glob("*.html.gz"))]

    texts: list[str] = []

    def extract_all() -> None:
        texts.clear()
        texts.extend(trafilatura.extract(page) or "" for page in pages)

    extract_seconds = best_of(args.rounds, extract_all)
    words = sum(len(t.split()) for t in texts)

    config = load_config(args.config)
    tagger = Tagger(config, background=texts)  # as the daemon: word weights learnt from the articles seen

    def tag_all(skip: bool) -> Callable[[], None]:
        return lambda: [tagger.tag("", text, None, skip_hopeless=skip) for text in texts]

    tag_seconds = best_of(args.rounds, tag_all(False))
    prefiltered_seconds = best_of(args.rounds, tag_all(True))

    items = [json.loads(line) for line in (SHARED / "data" / "articles" / "dev.jsonl").read_text().splitlines()
             if line.strip()]
    full = [(i["title"], i["text"]) for i in items if i["text_kind"].startswith("full_text")]
    dev2 = SHARED / "data" / "articles" / "dev2.jsonl"
    other = [json.loads(line) for line in dev2.read_text().splitlines() if line.strip()] \
        if dev2.exists() else []
    russian_hindi = [(i["title"], i["text"]) for i in other if i.get("language") in ("ru", "hi")]
    seeds = [(path.stem, path.read_text(encoding="utf-8")) for path in sorted((SHARED / "seeds").glob("*.txt"))]
    full_seconds = best_of(args.rounds, lambda: [tagger.tag(t, x, dt.date(2025, 9, 1)) for t, x in full])
    seed_seconds = best_of(args.rounds, lambda: [tagger.tag(t, x, dt.date(2025, 9, 1)) for t, x in seeds * 20])
    mentions = sum(tagger.tag(t, x, None)["india-russia-summit"].mention for t, x in seeds)

    ratio = tag_seconds / extract_seconds
    report = Report(f"{len(pages)} news pages ({words:,} words extracted), best of {args.rounds} rounds")
    report.add("trafilatura.extract, all pages", f"{extract_seconds:.2f} s ({len(pages) / extract_seconds:.0f}/s)")
    report.add("tagging their texts, in full", f"{tag_seconds:.3f} s ({len(pages) / tag_seconds:,.0f}/s)")
    report.add("tagging / extraction", f"{ratio:.1%}", f"<= {TARGET:.0%}", ratio <= TARGET)
    report.add("with the pipeline's prefilter", f"{prefiltered_seconds:.3f} s "
               f"({prefiltered_seconds / extract_seconds:.1%} of extraction)")
    report.add(f"full-text dev items ({len(full)}), in full", f"{len(full) / full_seconds:,.0f} articles/s")
    if russian_hindi:
        rh_seconds = best_of(args.rounds, lambda: [tagger.tag(t, x, dt.date(2025, 9, 1)) for t, x in russian_hindi])
        report.add(f"Russian and Hindi dev2 items ({len(russian_hindi)}), in full",
                   f"{len(russian_hindi) / rh_seconds:,.0f} articles/s")
    report.add(f"seed articles ({len(seeds)} x 20, both mentions)", f"{len(seeds) * 20 / seed_seconds:,.0f} articles/s")
    median = statistics.median(map(len, texts))
    report.notes.append(f"per page: extraction {extract_seconds / len(pages) * 1000:.1f} ms, tagging "
                        f"{tag_seconds / len(pages) * 1000:.2f} ms; median text {median:,.0f} characters; "
                        f"{mentions} of {len(seeds)} seeds tagged as mentions")
    report.print()
    misses = report.misses()
    print(f"\n{'all targets met' if not misses else 'MISSED: ' + '; '.join(misses)}")


if __name__ == "__main__":
    main()
