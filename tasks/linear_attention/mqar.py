"""Multi-query associative recall data, shared by the harness (in the jail) and the evaluator (trusted).

Standalone (torch only): the harness imports it from its work dir, where it is handed in read-only.
"""

from __future__ import annotations

import torch


def mqar_batch(gen: torch.Generator, n: int, seq_len: int, num_kv: int, vocab: int, power_a: float):
    """Zoology's multi-query associative recall (Arora et al. 2023): key-value pairs first (keys from the lower
    half of the vocabulary, values from the upper), then each key queried again at a gap drawn from a power law;
    the target after a query is its value, every other target is ignored (-100). Fillers are random tokens."""
    half = vocab // 2
    keys = torch.stack([torch.randperm(half - 1, generator=gen)[:num_kv] + 1 for _ in range(n)])
    values = torch.randint(half, vocab, (n, num_kv), generator=gen)
    context = torch.stack([keys, values], dim=2).flatten(1)  # k1 v1 k2 v2 ...
    space = (seq_len - 2 * num_kv) // 2
    weights = power_a * torch.arange(1, space + 1, dtype=torch.float64) ** (power_a - 1)
    gaps = torch.stack([torch.multinomial(weights, num_kv, replacement=False, generator=gen) for _ in range(n)])
    queries = torch.zeros(n, seq_len - 2 * num_kv + 1, dtype=torch.long)
    queries.scatter_(1, gaps * 2, keys)
    tokens = torch.cat([context, queries], dim=1)
    labels = torch.full_like(tokens, -100)
    labels.scatter_(1, gaps * 2 + 2 * num_kv + 1, values)
    filler = torch.randint(1, vocab, tokens.shape, generator=gen)
    tokens = torch.where(tokens == 0, filler, tokens)
    return tokens[:, :-1], labels[:, 1:]
