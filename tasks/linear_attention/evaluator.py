"""Trusted evaluator of the linear_attention task (`isolation: split`): it never runs the candidate itself.

It draws the held-out inputs (MQAR test sequences, longer and with more key-value pairs than training; windows
of held-out tiny-shakespeare, some with their ends scrambled), keeps their answers, and has the fixed harness
`train.py` train the candidate's mixer under DeepSpeed in the jail (`tools.deepspeed_launch`). From what the
training sends back it computes every metric itself:

- `mqar_accuracy` / `mqar_accuracy_long`: recall at query positions, at the training length and at the longer one;
- `lm_loss`: cross-entropy (nats per character) of the logits on held-out text, normalised here;
- causality: logits before a scrambled end must equal the unscrambled ones — a mixer that reads the future is
  invalid, whatever it scores;
- efficiency: parameters, training tokens/s, and how the mixer's forward cost grows between two lengths, as an
  exponent (about 1 for a linear mixer, 2 for a quadratic one): `flop_exponent` from the FLOPs torch counts
  (deterministic, so the score is), `scaling_exponent` from the measured time (reported; it depends on the
  machine and its load).

`combined_score` is the weighted mean of sigmoid-normalised metrics against the DeltaNet reference measured by
this evaluator (`params.fitness` in task.yaml): DeltaNet itself scores about 0.5.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from tools.candidate_policy import policy_error  # noqa: E402
from tools.deepspeed_launch import train

HERE = Path(__file__).resolve().parent
PARAMS_ENV, SEED_ENV = "ASI_EVOLVE_TASK_PARAMS", "ASI_EVOLVE_SEED"
DATA_ENV = "ASI_EVOLVE_DATA_DIR"
CORPUS = Path("web_text") / "clean" / "tinyshakespeare" / "input.txt"


class TrainingFailed(RuntimeError):
    """The training did not produce a result (crash, timeout, divergence); the message is one line."""


# what a candidate may import (see tools.candidate_policy)
ALLOWED_MODULES = ("__future__", "torch", "math", "fla", "functools", "itertools", "typing", "dataclasses")


def task_params() -> dict[str, Any]:
    raw = os.environ.get(PARAMS_ENV)
    if raw:
        return json.loads(raw)
    import yaml  # standalone use: the task's own defaults

    return yaml.safe_load((HERE / "task.yaml").read_text())["params"]


def corpus_ids(params: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """tiny-shakespeare as character ids: (training part, held-out part, vocabulary size)."""
    root = os.environ.get(DATA_ENV)
    if not root or not (Path(root) / CORPUS).is_file():
        raise TrainingFailed(f"tiny-shakespeare not found: set {DATA_ENV} to the data folder holding {CORPUS}")
    text = (Path(root) / CORPUS).read_text()
    chars = sorted(set(text))
    table = torch.full((0x110000 if max(map(ord, chars)) > 255 else 256,), -1, dtype=torch.long)
    table[torch.tensor([ord(c) for c in chars])] = torch.arange(len(chars))
    ids = table[torch.tensor([ord(c) for c in text])]
    split = int(len(ids) * params["lm"]["train_fraction"])
    return ids[:split], ids[split:], len(chars)


def held_out_inputs(params: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(what the harness gets, what only this evaluator keeps)."""
    from tasks.linear_attention.mqar import mqar_batch

    seed = params["seed"] + 1000  # never the training stream's seed
    gen = torch.Generator().manual_seed(seed)
    mq = params["mqar"]
    inputs: dict[str, torch.Tensor] = {}
    kept: dict[str, Any] = {}
    for tag, seq_len, num_kv in (("", mq["seq_len"], mq["num_kv"]), ("_long", mq["test_seq_len"],
                                                                      mq["test_num_kv"])):
        tokens, labels = mqar_batch(gen, mq["test_examples"], seq_len, num_kv, mq["vocab"], mq["power_a"])
        positions = torch.stack([torch.nonzero(row != -100).flatten() for row in labels])
        name = "mqar_tokens" if tag == "_long" else "mqar_train_len_tokens"
        inputs[name] = tokens
        inputs[name.replace("tokens", "positions")] = positions
        kept[f"answers{tag}"] = labels.gather(1, positions)
    train_ids, held, vocab = corpus_ids(params)
    lm = params["lm"]
    n, seq = lm["eval_sequences"], lm["seq_len"]
    starts = torch.randint(0, held.numel() - seq, (n,), generator=gen)
    windows = torch.stack([held[s:s + seq] for s in starts.tolist()])
    pairs = min(lm["causal_pairs"], n)
    cuts = torch.randint(seq // 8, seq - seq // 8, (pairs,), generator=gen)
    scrambled = windows[:pairs].clone()
    for i, cut in enumerate(cuts.tolist()):
        scrambled[i, cut:] = torch.randint(0, vocab, (seq - cut,), generator=gen)
    order = torch.randperm(n + pairs, generator=gen)  # the harness cannot tell the scrambled copies apart
    inputs["lm_eval_tokens"] = torch.cat([windows, scrambled])[order]
    inputs["lm_train_ids"] = train_ids
    kept.update(order=order, n=n, pairs=pairs, cuts=cuts, windows=windows, vocab=vocab)
    return inputs, kept


def harness_config(params: dict[str, Any], vocab: int) -> dict[str, Any]:
    """What the harness trains with; `$ASI_EVOLVE_SEED` (verification's seed i) shifts the training seed, the
    held-out inputs stay the same."""
    keys = ("d_model", "n_layers", "n_heads", "mlp_ratio", "batch_size", "lr", "log_every", "eval_batch",
            "scaling_lengths", "scaling_batch", "mqar")
    config = {k: params[k] for k in keys}
    config["seed"] = params["seed"] + int(os.environ.get(SEED_ENV, "0"))
    config["lm"] = {**params["lm"], "vocab": vocab}
    return config


def read_result(raw: bytes, inputs: dict[str, torch.Tensor], vocab: int) -> dict[str, torch.Tensor]:
    """The harness's result, loaded safely (tensors only) and checked for shape; ValueError saying what is off."""
    try:
        result = torch.load(io.BytesIO(raw), weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable payload is the candidate's failure
        raise ValueError(f"unreadable training result ({type(exc).__name__})") from None
    expected = {"mqar_pred": inputs["mqar_positions"].shape,
                "mqar_train_len_pred": inputs["mqar_train_len_positions"].shape,
                "lm_logits": (*inputs["lm_eval_tokens"].shape, vocab), "stats": (13,)}
    if not isinstance(result, dict):
        raise ValueError("the training result is not a mapping")
    for key, shape in expected.items():
        value = result.get(key)
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(shape):
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"training result {key} has shape {got}, expected {tuple(shape)}")
    return result


def causal_drift(logits: torch.Tensor, kept: dict[str, Any]) -> float:
    """Largest change of a logit before a scrambled end, relative to the logit's size."""
    position = {int(j): i for i, j in enumerate(kept["order"])}
    worst = 0.0
    for i, cut in enumerate(kept["cuts"].tolist()):
        a, b = logits[position[i], :cut], logits[position[kept["n"] + i], :cut]
        worst = max(worst, ((a - b).abs() / (1 + a.abs())).max().item())
    return worst


def sigmoid_fitness(metrics: dict[str, float], fitness: dict[str, Any]) -> float:
    """Weighted mean of sigmoid((value - reference) / scale), the sign flipped for metrics to minimise."""
    total = weight_sum = 0.0
    for name, spec in fitness["metrics"].items():
        gap = (metrics[name] - spec["reference"]) / spec["scale"]
        gap = -gap if spec.get("goal", "max") == "min" else gap
        total += spec["weight"] / (1 + math.exp(-max(-60.0, min(60.0, gap))))
        weight_sum += spec["weight"]
    return total / weight_sum


def evaluate(program_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Train the candidate's mixer, score it on the held-out inputs; raise TrainingFailed for a crash."""
    refused = policy_error(Path(program_path).read_text(errors="replace"), ALLOWED_MODULES)
    if refused:  # before anything runs: the harness imports the candidate into its own process
        return {"valid": False, "combined_score": 0.0, "error": refused}
    params = task_params()
    inputs, kept = held_out_inputs(params)
    vocab = kept["vocab"]
    with tempfile.TemporaryDirectory(prefix="linear-attention-") as tmp:
        os.chmod(tmp, 0o755)
        inputs_file, config_file = Path(tmp) / "inputs.pt", Path(tmp) / "config.json"
        torch.save(inputs, inputs_file)
        config_file.write_text(json.dumps(harness_config(params, vocab)))
        for path in (inputs_file, config_file):
            path.chmod(0o644)
        files = {"inputs.pt": inputs_file, "config.json": config_file, "mqar.py": HERE / "mqar.py"}
        run = train(program_path, HERE / "train.py", files=files,
                    args=["inputs.pt", "config.json"], timeout_s=params.get("train_timeout_s"))
    box = run.sandbox
    problem = run.failure()
    if problem:
        raise TrainingFailed(problem)
    try:
        result = read_result(box.result, inputs, vocab)
    except ValueError as exc:
        return {"valid": False, "combined_score": 0.0, "error": str(exc)}
    logits = result["lm_logits"].float()
    if not torch.isfinite(logits).all():
        return {"valid": False, "combined_score": 0.0, "error": "the language model produced non-finite logits"}
    drift = causal_drift(logits, kept)
    if drift > params["lm"]["causal_tolerance"]:
        return {"valid": False, "combined_score": 0.0, "causal_drift": drift,
                "error": f"the mixer is not causal: logits moved by {drift:.3g} when only later tokens changed"}
    position = {int(j): i for i, j in enumerate(kept["order"])}
    originals = logits[[position[i] for i in range(kept["n"])]]
    lm_loss = F.cross_entropy(originals[:, :-1].flatten(0, 1), kept["windows"][:, 1:].flatten()).item()
    stats = result["stats"].tolist()
    (params_count, mq_tokens, mq_s, mq_loss, lm_tokens, lm_s, lm_train_loss, t_short, t_long, f_short, f_long,
     fla_available, fla_used) = stats
    short, long = params["scaling_lengths"]

    def exponent(small: float, large: float) -> float:  # cost ~ length^e between the two lengths
        return math.log(max(large, 1e-9) / max(small, 1e-9)) / math.log(long / short)

    metrics: dict[str, Any] = {
        "mqar_accuracy": (result["mqar_train_len_pred"] == kept["answers"]).float().mean().item(),
        "mqar_accuracy_long": (result["mqar_pred"] == kept["answers_long"]).float().mean().item(),
        "lm_loss": lm_loss,
        "lm_train_loss": lm_train_loss,
        "mqar_train_loss": mq_loss,
        "parameters": int(params_count),
        "tokens_per_s": (mq_tokens + lm_tokens) / max(mq_s + lm_s, 1e-9),
        "scaling_exponent": exponent(t_short, t_long),
        "flop_exponent": exponent(f_short, f_long),
        "causal_drift": drift,
        "fla_available": bool(fla_available),  # reported only: whether the kernels could be, and were, imported
        "fla_used": bool(fla_used),
        "train_wall_s": box.duration_s,
        "valid": True,
    }
    metrics["mqar_recall"] = (metrics["mqar_accuracy"] + metrics["mqar_accuracy_long"]) / 2
    metrics["combined_score"] = sigmoid_fitness(metrics, params["fitness"])
    return metrics
