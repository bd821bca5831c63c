"""MinHash signatures: the values of datasketch's ``MinHash(num_perm, seed, hashfunc=zlib.crc32)`` (its
"affine32" scheme, the default since datasketch 2.0), computed with numpy alone.

Story features are computed when an article is tagged, so the daemon signed every new article; importing
datasketch imports scipy (``scipy.integrate``, for its LSH parameters): ~60 MB and ~0.7 s of the daemon's
start-up for a few array operations (#19). The scheme, as datasketch documents it:

- each value is hashed to 32 bits (CRC-32 here: fast, and the same in every process), then mixed by the
  MurmurHash3 finalizer (a fixed bijection on 32 bits);
- permutation k maps a mixed hash h to ``a_k * h + b_k`` modulo 2^32, with ``a_k`` odd (a bijection);
  ``a_k`` and ``b_k`` are drawn from ``numpy.random.RandomState(seed)``: the ``a`` as
  ``2 * randint(0, 2^31) + 1``, then the ``b`` as ``randint(0, 2^32)``, ``num_perm`` of each, as uint32;
- the signature is, per permutation, the least permuted hash over the values.

``tests/language/test_minhash.py`` holds the signatures equal to datasketch's. Owning them also pins them:
datasketch before 2.0 used another scheme, so the stored story features depended on the installed version.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable

import numpy as np

_UINT32 = np.uint32


@functools.cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``a`` (odd) and ``b`` of each permutation, uint32, drawn as datasketch draws them."""
    generator = np.random.RandomState(seed)
    a = generator.randint(0, 1 << 31, num_perm, dtype=_UINT32) * _UINT32(2) + _UINT32(1)
    b = generator.randint(0, 1 << 32, num_perm, dtype=_UINT32)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (multiplications wrap modulo 2^32, as intended)."""
    values = values ^ (values >> _UINT32(16))
    values = values * _UINT32(0x85EBCA6B)
    values = values ^ (values >> _UINT32(13))
    values = values * _UINT32(0xC2B2AE35)
    return values ^ (values >> _UINT32(16))


def signature(values: Iterable[bytes], num_perm: int, seed: int) -> tuple[int, ...]:
    """The MinHash of a set of byte strings: ``num_perm`` ints below 2^32 (each 2^32 - 1 for no value)."""
    hashes = np.fromiter((zlib.crc32(value) for value in values), dtype=_UINT32)
    if not len(hashes):
        return (int(np.iinfo(_UINT32).max),) * num_perm
    a, b = permutations(num_perm, seed)
    permuted = _fmix32(hashes)[:, None] * a + b  # values x permutations, wrapping modulo 2^32
    return tuple(permuted.min(axis=0).tolist())
