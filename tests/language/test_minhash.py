"""monitor.language.minhash gives datasketch's MinHash values (scheme "affine32", CRC-32 hashes), so that story
features need not import datasketch and scipy with it (#19): datasketch is the oracle here, on shingles of the
labelled dev data (English, Russian and Hindi), read from ../shared at test time."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from datasketch import MinHash

from monitor.language import minhash
from monitor.language.features import NUM_PERM, SEED, SHINGLE, minhash_template, text_features
from monitor.language.text import fold, tokens


def datasketch_signature(values: list[bytes], num_perm: int, seed: int) -> tuple[int, ...]:
    sketch = MinHash(num_perm=num_perm, seed=seed, hashfunc=zlib.crc32, scheme="affine32")
    sketch.update_batch(values)
    return tuple(int(v) for v in sketch.hashvalues)


def shingles(text: str) -> list[bytes]:
    """The shingles text_features signs: SHINGLE consecutive folded words, as a set."""
    norms = [t.norm for t in tokens(text, fold(text))]
    return sorted({" ".join(norms[k:k + SHINGLE]).encode("utf-8") for k in range(len(norms) - SHINGLE + 1)})


def dev_texts(shared_dir: Path) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in ("dev.jsonl", "dev2.jsonl"):
        for line in (shared_dir / "data" / "articles" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                groups.setdefault(item.get("language") or "en", []).append(item.get("text") or "")
    assert {"en", "ru", "hi"} <= set(groups)
    return groups


def test_signatures_are_datasketchs_on_dev_texts_in_three_languages(shared_dir: Path) -> None:
    for language, texts in dev_texts(shared_dir).items():
        signed = 0
        for text in texts:
            values = shingles(text[:2500])
            if len(values) < 3:
                continue
            assert minhash.signature(values, NUM_PERM, SEED) == datasketch_signature(values, NUM_PERM, SEED), language
            signed += 1
        assert signed >= 20, language


@pytest.mark.parametrize(("num_perm", "seed"), [(1, 1), (16, 7), (64, 1), (128, 42)])
def test_other_permutation_counts_and_seeds_and_the_empty_set(num_perm: int, seed: int) -> None:
    values = [f"shingle {i}".encode() for i in range(300)] + ["саммит в Нью-Дели".encode(), "भारत रूस".encode()]
    assert minhash.signature(values, num_perm, seed) == datasketch_signature(values, num_perm, seed)
    assert minhash.signature(values[:1], num_perm, seed) == datasketch_signature(values[:1], num_perm, seed)
    assert minhash.signature([], num_perm, seed) == datasketch_signature([], num_perm, seed)


def test_text_features_sign_the_shingles_of_title_and_text(shared_dir: Path) -> None:
    text = dev_texts(shared_dir)["ru"][0]
    features = text_features("Заголовок статьи", text)
    assert features.signature == datasketch_signature(shingles(f"Заголовок статьи {text}"), NUM_PERM, SEED)
    # As the template that signed them before (datasketch's, the same permutations) signs them.
    template = minhash_template()
    sketch = type(template)(num_perm=NUM_PERM, hashfunc=zlib.crc32, permutations=template.permutations,
                            scheme=template.scheme)
    sketch.update_batch(shingles(f"Заголовок статьи {text}"))
    assert features.signature == tuple(int(v) for v in sketch.hashvalues)
