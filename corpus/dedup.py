"""Near-duplicate detection: MinHash signatures over word shingles, with LSH bands.

The same wire story republished with a new headline or one paragraph changed shares most
of its four-word shingles with the original. Each article's text (not its title) gets a
128-value MinHash signature; the share of equal values estimates the Jaccard similarity of
the two shingle sets. The first 126 values are cut into 42 bands of 3; articles sharing a
band's values are candidates, confirmed when the estimate reaches ``THRESHOLD``. A pair of
similarity s is a candidate with probability 1 − (1 − s³)⁴²: 0.996 at 0.5, 0.94 at 0.4, but
about 4·10⁻⁴ at 0.02, the similarity of articles that share one sentence in twenty. (Bands of
2, as before, made that 0.03: in an archive where stock sentences recur, every new article
had thousands of candidates to check, and ingest slowed with the archive's size.)
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

PERMUTATIONS = 128
BANDS = 42
ROWS = 3
# Stored band keys of another layout are recomputed from the stored signatures (the store
# records this in its user_version).
BAND_LAYOUT = 2
SHINGLE = 4
# Estimated Jaccard similarity from which two texts count as the same story. Rewriting one
# paragraph of five leaves about 0.63; unrelated news texts share almost no four-word
# sequences (at most 0.047 among 197 SQuAD paragraphs on related topics; bench/dedup.py).
THRESHOLD = 0.5
# Below this many shingles a text is too short to call anything its duplicate.
MIN_SHINGLES = 12

_PRIME = (1 << 31) - 1
_rng = np.random.default_rng(20261126)  # fixed: signatures must be comparable forever
_A = _rng.integers(1, _PRIME, size=PERMUTATIONS, dtype=np.int64)
_B = _rng.integers(0, _PRIME, size=PERMUTATIONS, dtype=np.int64)
_WORD = re.compile(r"\w+", re.UNICODE)


def shingles(text: str) -> set[str]:
    """Overlapping four-word sequences of the lower-cased words of ``text``."""
    words = _WORD.findall(text.casefold())
    return {" ".join(words[i : i + SHINGLE]) for i in range(max(0, len(words) - SHINGLE + 1))}


def signature(text: str) -> np.ndarray | None:
    """The MinHash signature of ``text`` (uint32 × 128), or None if it is too short."""
    grams = shingles(text)
    if len(grams) < MIN_SHINGLES:
        return None
    hashes = np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little")
            for g in grams
        ),
        dtype=np.int64,
        count=len(grams),
    )
    # (a·x + b) mod p for every permutation and shingle; a, x < 2^32 keeps it within int64.
    permuted = (np.outer(_A, hashes) + _B[:, None]) % _PRIME
    return permuted.min(axis=1).astype(np.uint32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the texts behind two signatures."""
    return float(np.mean(a == b))


def band_keys(sig: np.ndarray) -> list[int]:
    """One 63-bit key per band: articles sharing a key are near-duplicate candidates."""
    keys = []
    for band in range(BANDS):
        chunk = sig[band * ROWS : (band + 1) * ROWS].tobytes()
        keys.append(int.from_bytes(hashlib.blake2b(chunk, digest_size=8).digest(), "little") >> 1)
    return keys
