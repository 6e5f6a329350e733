"""Fixed harness of the linear_attention task: a small causal LM around the candidate's token mixer, trained with
DeepSpeed on MQAR and on tiny-shakespeare, then run on the held-out inputs the evaluator handed in.

Runs in the jail (`tools.deepspeed_launch`), beside `program.py` (the candidate: `build_mixer(d_model, n_heads,
layer_idx)`). It never sees an answer: the evaluator keeps the MQAR values and scores the predictions and
logits written to `$ASI_EVOLVE_TRAIN_OUT/result.bin` itself. Progress lines (`@asi-progress {...}`) stream out.

    python train.py INPUTS.pt CONFIG.json
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import time

import deepspeed
import torch
import torch.nn.functional as F
from asi_harness import ds_config, load_candidate, progress, rank, write_result  # beside this script
from mqar import mqar_batch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode, flop_registry


class Block(nn.Module):
    """Pre-norm block: x + mixer(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, mixer: nn.Module, d_model: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.mixer = mixer
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(),
                                 nn.Linear(mlp_ratio * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mixer(self.norm1(x))
        if not isinstance(y, torch.Tensor) or y.shape != x.shape:
            shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(f"the mixer returned {shape} for an input of shape {tuple(x.shape)}")
        x = x + y
        return x + self.mlp(self.norm2(x))


class LM(nn.Module):
    """Token embedding, blocks of mixer + MLP, final norm, tied output head."""

    def __init__(self, build_mixer, vocab: int, d_model: int, n_layers: int, n_heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        nn.init.normal_(self.embed.weight, std=0.02)  # tied head: unit-scale weights would start with huge logits
        self.blocks = nn.ModuleList(Block(build_mixer(d_model, n_heads, i), d_model, mlp_ratio)
                                    for i in range(n_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.norm(x) @ self.embed.weight.T


def lm_batch(gen: torch.Generator, ids: torch.Tensor, n: int, seq_len: int):
    starts = torch.randint(0, ids.numel() - seq_len - 1, (n,), generator=gen)
    rows = torch.stack([ids[s:s + seq_len + 1] for s in starts.tolist()])
    return rows[:, :-1], rows[:, 1:]


def causal_violation(model: LM, vocab: int, seq_len: int) -> str:
    """Fail fast, before any training: the untrained model's output must be finite, and at t must not move when
    tokens after t do. (The evaluator checks causality again on the trained model; this only saves time.)"""
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, vocab, (2, seq_len), generator=gen)
    cut = seq_len // 2
    other = tokens.clone()
    other[:, cut:] = torch.randint(0, vocab, (2, seq_len - cut), generator=gen)
    with torch.no_grad():
        a, b = model(tokens)[:, :cut], model(other)[:, :cut]
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return "the model's output is not finite (NaN or inf) before any training"
    drift = (a - b).abs().max().item()
    if drift > 1e-4:
        return f"the mixer is not causal: its output before position {cut} changed by {drift:.3g} " \
               "when only later tokens changed"
    return ""


def train(name: str, build_mixer, cfg: dict, ds_config: dict, vocab: int, batches, steps: int, seq_len: int,
          step_offset: int, total_steps: int) -> tuple[LM, dict]:
    torch.manual_seed(cfg["seed"])
    model = LM(build_mixer, vocab, cfg["d_model"], cfg["n_layers"], cfg["n_heads"], cfg["mlp_ratio"])
    problem = causal_violation(model, vocab, min(seq_len, 64))
    if problem:
        raise SystemExit(problem)
    config = {**ds_config, "train_micro_batch_size_per_gpu": cfg["batch_size"],
              "optimizer": {"type": "AdamW", "params": {"lr": cfg["lr"], "weight_decay": 0.1, "torch_adam": True}},
              "scheduler": {"type": "WarmupCosineLR", "params": {"total_num_steps": steps,
                                                                 "warmup_num_steps": max(1, steps // 10)}}}
    engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=config)
    start, tokens, loss_value = time.perf_counter(), 0, float("nan")
    for step in range(steps):
        x, y = (t.to(engine.device) for t in batches())
        logits = engine(x)  # under bf16 DeepSpeed holds the model in bfloat16 itself
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=-100)
        if not torch.isfinite(loss):
            raise SystemExit(f"{name} training diverged: loss {loss.item()} at step {step}")
        engine.backward(loss)
        engine.step()
        tokens += x.numel()
        loss_value = loss.item()
        if step % cfg["log_every"] == 0 or step == steps - 1:
            elapsed = time.perf_counter() - start
            progress(phase=name, step=step_offset + step + 1, steps=total_steps, loss=round(loss_value, 4),
                     tokens_per_s=round(tokens / max(elapsed, 1e-9)), elapsed_s=round(elapsed, 2))
    elapsed = time.perf_counter() - start
    return engine.module.eval(), {"final_loss": loss_value, "tokens": tokens, "train_s": elapsed}


@torch.no_grad()
def predict_rows(model: LM, tokens: torch.Tensor, batch: int) -> torch.Tensor:
    """Logits of every position (for the held-out text: a small vocabulary)."""
    device = next(model.parameters()).device
    return torch.cat([model(tokens[i:i + batch].to(device)).float().cpu() for i in range(0, len(tokens), batch)])


@torch.no_grad()
def predict_at(model: LM, tokens: torch.Tensor, positions: torch.Tensor, batch: int) -> torch.Tensor:
    """The most likely next token at the given positions only (MQAR queries), batch by batch: the full logits of
    a large vocabulary and long sequences would not fit in memory."""
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(tokens), batch):
        logits = model(tokens[i:i + batch].to(device))
        where = positions[i:i + batch].to(device)
        out.append(logits.gather(1, where[..., None].expand(-1, -1, logits.shape[-1])).argmax(-1).cpu())
    return torch.cat(out)


class ElementCount(TorchDispatchMode):
    """Counts what `FlopCounterMode` leaves out: every other op touches its largest tensor once (views are free).

    Why: torch counts only matrix products, convolutions and attention, so a quadratic mixer written with
    broadcasting (q[:, :, None] * k[:, None]).sum(-1) would count as free and look linear."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func._overloadpacket not in flop_registry and not func.is_view:
            sizes = [t.numel() for t in tree_flatten((out, args, kwargs))[0] if isinstance(t, torch.Tensor)]
            self.total += max(sizes, default=0)
        return out


@torch.no_grad()
def mixer_cost(mixer: nn.Module, d_model: int, seq_len: int, batch: int, repeats: int = 3) -> tuple[float, int]:
    """(seconds, operations) of one forward of the mixer at this length, for the scaling check: the time is the
    best of `repeats`; the operations (FLOPs of matrix products and attention as torch counts them, plus one per
    element every other op touches) do not depend on the machine."""
    weight = next(mixer.parameters())
    x = torch.randn(batch, seq_len, d_model, device=weight.device, dtype=weight.dtype)  # bf16 on GPUs
    with FlopCounterMode(display=False) as counter, ElementCount() as elements:
        mixer(x)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        mixer(x)
        best = min(best, time.perf_counter() - start)
    return best, counter.get_total_flops() + elements.total


def fla_available() -> float:
    """1.0 where flash-linear-attention's kernels can be imported (the gpu extra on a CUDA machine), else 0.0."""
    if not torch.cuda.is_available():
        return 0.0  # its Triton kernels need a GPU: on the CPU the mixer is pure torch
    return float(importlib.util.find_spec("fla") is not None)


def main() -> None:
    inputs = torch.load(sys.argv[1], weights_only=True)
    cfg = json.loads(open(sys.argv[2]).read())
    launch = ds_config()
    torch.manual_seed(cfg["seed"])
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    candidate = load_candidate()
    build = candidate.build_mixer
    gen = torch.Generator().manual_seed(cfg["seed"] * 1009 + rank())  # each rank its own batches
    mq, lm = cfg["mqar"], cfg["lm"]
    total = mq["steps"] + lm["steps"]

    mqar_model, mqar_stats = train("mqar", build, cfg, launch, mq["vocab"], lambda: mqar_batch(
        gen, cfg["batch_size"], mq["seq_len"], mq["num_kv"], mq["vocab"], mq["power_a"]), mq["steps"],
        mq["seq_len"], 0, total)
    mqar_pred = predict_at(mqar_model, inputs["mqar_tokens"], inputs["mqar_positions"], cfg["eval_batch"])
    mqar_train_pred = predict_at(mqar_model, inputs["mqar_train_len_tokens"], inputs["mqar_train_len_positions"],
                                 cfg["eval_batch"])
    params = sum(p.numel() for p in mqar_model.parameters())
    del mqar_model

    ids = inputs["lm_train_ids"]
    lm_model, lm_stats = train("lm", build, cfg, launch, lm["vocab"], lambda: lm_batch(
        gen, ids, cfg["batch_size"], lm["seq_len"]), lm["steps"], lm["seq_len"], mq["steps"], total)
    lm_logits = predict_rows(lm_model, inputs["lm_eval_tokens"], cfg["eval_batch"])

    mixer = lm_model.blocks[0].mixer
    short, long = cfg["scaling_lengths"]
    (t_short, f_short), (t_long, f_long) = (mixer_cost(mixer, cfg["d_model"], n, cfg["scaling_batch"])
                                            for n in (short, long))
    result = {"mqar_pred": mqar_pred, "mqar_train_len_pred": mqar_train_pred,
              "lm_logits": lm_logits.to(torch.float16),
              "stats": torch.tensor([params, mqar_stats["tokens"], mqar_stats["train_s"], mqar_stats["final_loss"],
                                     lm_stats["tokens"], lm_stats["train_s"], lm_stats["final_loss"], t_short, t_long,
                                     f_short, f_long, fla_available(), float("fla" in sys.modules)],
                                    dtype=torch.float64)}
    buffer = io.BytesIO()
    torch.save(result, buffer)
    write_result(buffer.getvalue())


if __name__ == "__main__":
    main()
