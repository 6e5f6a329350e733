"""The downstream check at tiny scale: a small byte-level language model trained on a cleaned corpus, its loss
measured on held-out gold article text.

It asks the question data curation is for: does a model trained on what the strategy kept learn the language
of real articles better than one trained on the raw pages? The model (byte embedding, one GRU layer, a linear
head) trains for a fixed number of steps on random windows of the corpus, one thread, fixed seed, so the same
corpus always gives the same loss. An empty corpus leaves the model untrained: 8 bits per byte.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class LMConfig:
    steps: int = 300
    batch: int = 32
    context: int = 64
    hidden: int = 128
    lr: float = 3e-3
    seed: int = 0
    max_train_bytes: int = 4_000_000
    max_eval_bytes: int = 200_000

    @classmethod
    def from_params(cls, raw: dict[str, Any] | None) -> LMConfig:
        return cls(**{k: v for k, v in (raw or {}).items() if k in cls.__dataclass_fields__})


class ByteLM(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(256, 64)
        self.rnn = nn.GRU(64, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 256)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(ids))
        return self.head(out)


def _bytes(texts: Sequence[str], cap: int) -> torch.Tensor:
    data = "\n\n".join(texts).encode("utf-8", "replace")[:cap]
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).long() if data else torch.zeros(0, dtype=torch.long)


def bits_per_byte(train_texts: Sequence[str], eval_texts: Sequence[str], config: LMConfig) -> float:
    """Held-out loss in bits per byte of a model trained on `train_texts` (8.0 when there is nothing to learn)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(config.seed)
        train = _bytes(train_texts, config.max_train_bytes)
        held = _bytes(eval_texts, config.max_eval_bytes)
        model = ByteLM(config.hidden)
        if len(train) > config.context + 1:
            _train(model, train, config)
        return _evaluate(model, held, config) if len(train) > config.context + 1 else 8.0
    finally:
        torch.set_num_threads(threads)


def _train(model: ByteLM, data: torch.Tensor, config: LMConfig) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    offsets = torch.arange(config.context + 1)
    for _ in range(config.steps):
        starts = torch.randint(0, len(data) - config.context - 1, (config.batch, 1), generator=generator)
        window = data[starts + offsets]
        logits = model(window[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, 256), window[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@torch.no_grad()
def _evaluate(model: ByteLM, data: torch.Tensor, config: LMConfig, length: int = 256) -> float:
    rows = (len(data) - 1) // length
    if rows < 1:
        return 8.0
    inputs = data[: rows * length].view(rows, length)
    targets = data[1: rows * length + 1].view(rows, length)
    total = 0.0
    for i in range(0, rows, 64):
        logits = model(inputs[i:i + 64])
        total += nn.functional.cross_entropy(logits.reshape(-1, 256), targets[i:i + 64].reshape(-1),
                                             reduction="sum").item()
    return total / (rows * length) / math.log(2)
