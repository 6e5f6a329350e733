"""A fast deterministic embedder for loop tests that assert nothing about retrieval: hashed bags of words.

No model is loaded: each lower-cased word adds +1 or -1 to one of `dim` buckets (both chosen by the word's
BLAKE2 digest, so the vectors are the same in every process), and rows are scaled to unit length like MiniLM's.
Texts sharing words are similar, others are near-orthogonal; there is no notion of meaning.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from knowledge.embeddings import Embedder, normalise_rows

HASH_DIM = 256
WORD = re.compile(r"\w+")


class HashEmbedder:
    """Signed feature hashing of a text's words into `dim` float32 buckets, L2-normalised."""

    name = "hash"

    def __init__(self, dim: int = HASH_DIM) -> None:
        if dim < 2:
            raise ValueError(f"a hash embedder needs at least 2 dimensions, got {dim}")
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in WORD.findall(text.lower()):
                digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                vectors[row, (digest >> 1) % self.dim] += 1.0 if digest & 1 else -1.0
            if not vectors[row].any():  # no words, or they cancelled out: a fixed direction, never a zero row
                vectors[row, 0] = 1.0
        return normalise_rows(vectors)

    def __repr__(self) -> str:
        return f"HashEmbedder(dim={self.dim})"


def make_hash_embedder(argument: str) -> Embedder:
    """The `EMBEDDERS` factory: spec "hash" (256 dimensions) or "hash:<dim>"."""
    return HashEmbedder(int(argument) if argument else HASH_DIM)
