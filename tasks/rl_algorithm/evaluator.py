"""Trusted evaluator of the rl_algorithm task (`isolation: split`): the candidate's update rule trains a policy in
the jail; the accuracy is measured here, on problems that never enter the jail, with the weights it sent back.

cpu config: a small transformer that answers "a+b=" (two-digit sums) is warm-started with a short supervised
run (built once by this trusted code, cached on disk), then trained by `train.py` with the candidate's
`advantages` and `policy_loss` for a fixed number of steps, once per seed. Fitness is the held-out greedy
accuracy (mean over the seeds). The same budget under the shipped GRPO program gives `grpo_accuracy` (measured
once per configuration, cached), reported beside it with `gain_over_grpo`.

gpu config (`params.policy` names a Hugging Face model folder): see `evaluator_hf.py`.
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # policy.py and answers.py are shared with the harness

from answers import is_correct  # noqa: E402
from policy import greedy_answers, make_policy, problems, warm_start  # noqa: E402

from tools.candidate_policy import policy_error  # noqa: E402
from tools.deepspeed_launch import LAUNCH_ENV, train  # noqa: E402
from tools.task_cache import cache_dir as task_cache_dir  # noqa: E402
from tools.task_cache import cache_key  # noqa: E402
from tools.task_cache import cached as shared_cached  # noqa: E402

PARAMS_ENV, SEED_ENV = "ASI_EVOLVE_TASK_PARAMS", "ASI_EVOLVE_SEED"
SHARED = ("policy.py", "answers.py", "update.py")


class TrainingFailed(RuntimeError):
    """The training did not produce weights (crash, timeout, a bad advantage or loss); one line."""


# what a candidate may import (see tools.candidate_policy)
ALLOWED_MODULES = ("__future__", "torch", "math", "functools", "itertools", "typing", "dataclasses")


def task_params() -> dict[str, Any]:
    """The task's parameters; `$ASI_EVOLVE_SEED` (verification's seed i) shifts the RL seeds to a fresh set."""
    raw = os.environ.get(PARAMS_ENV)
    if raw:
        params = json.loads(raw)
    else:
        import yaml  # standalone use: the task's own defaults

        params = yaml.safe_load((HERE / "task.yaml").read_text())["params"]
    offset = int(os.environ.get(SEED_ENV, "0"))
    if offset:
        params["seeds"] = [s + offset * len(params["seeds"]) for s in params["seeds"]]
    return params


def split(params: dict[str, Any]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(training problems, held-out problems): a fixed random split of every a+b."""
    pairs = problems(params["digits"])
    random.Random(params["split_seed"]).shuffle(pairs)
    return pairs[params["held_out"]:], pairs[:params["held_out"]]


def cache_dir() -> Path:
    return task_cache_dir("asi-evolve-rl-cache")


def _key(params: dict[str, Any], *extra: str) -> str:
    return cache_key(params, *extra)


def _warm_key(params: dict[str, Any]) -> str:
    """The warm start depends on neither the RL seeds (verify shifts them) nor the timeouts."""
    return _key({k: v for k, v in params.items() if k not in ("seeds", "train_timeout_s", "log_every")})


def cached(name: str, build) -> bytes:
    return shared_cached(name, build, cache_dir())


def warm_weights(params: dict[str, Any], train_pairs: list[tuple[int, int]]) -> dict[str, torch.Tensor]:
    def build() -> bytes:
        buffer = io.BytesIO()
        torch.save(warm_start(params, train_pairs, params["sft_seed"]).state_dict(), buffer)
        return buffer.getvalue()

    return torch.load(io.BytesIO(cached(f"warm-{_warm_key(params)}.pt", build)), weights_only=True)


def held_out_accuracy(weights: dict[str, torch.Tensor], params: dict[str, Any],
                      pairs: list[tuple[int, int]]) -> float:
    policy = make_policy(params)
    policy.load_state_dict(weights)
    texts = greedy_answers(policy.eval(), pairs, params)
    return sum(is_correct(t, a + b) for t, (a, b) in zip(texts, pairs, strict=True)) / len(pairs)


def run_training(program: Path, params: dict[str, Any], warm: dict[str, torch.Tensor],
                 train_pairs: list[tuple[int, int]]) -> tuple[list[dict[str, torch.Tensor]], list[float]]:
    """Train with `program`'s update rule in the jail; (weights per seed, reward stats)."""
    with tempfile.TemporaryDirectory(prefix="rl-algorithm-") as tmp:
        os.chmod(tmp, 0o755)
        warm_file, config_file = Path(tmp) / "warm.pt", Path(tmp) / "config.json"
        torch.save(warm, warm_file)
        config_file.write_text(json.dumps({**params, "train_pairs": train_pairs}))
        for path in (warm_file, config_file):
            path.chmod(0o644)
        files = {"warm.pt": warm_file, "config.json": config_file, **{name: HERE / name for name in SHARED}}
        run = train(program, HERE / "train.py", files=files, args=["warm.pt", "config.json"],
                    timeout_s=params.get("train_timeout_s"))
    problem = run.failure()
    if problem:
        raise TrainingFailed(problem)
    try:
        result = torch.load(io.BytesIO(run.result), weights_only=True)
        weights = [result[f"seed{i}"] for i in range(len(params["seeds"]))]
        stats = result["stats"].tolist()
    except Exception as exc:  # noqa: BLE001 - whatever the jail sent that is not weights
        raise TrainingFailed(f"unreadable training result ({type(exc).__name__})") from None
    return weights, stats


def evaluate(program_path: str | os.PathLike[str]) -> dict[str, Any]:
    refused = policy_error(Path(program_path).read_text(errors="replace"), ALLOWED_MODULES)
    if refused:  # before anything runs: the harness imports the candidate into its own process
        return {"valid": False, "combined_score": 0.0, "error": refused}
    params = task_params()
    if params.get("policy"):
        from evaluator_hf import evaluate_hf

        return evaluate_hf(Path(program_path), params)
    train_pairs, held = split(params)
    warm = warm_weights(params, train_pairs)
    try:
        weights, stats = run_training(Path(program_path), params, warm, train_pairs)
        per_seed = [held_out_accuracy(w, params, held) for w in weights]
    except RuntimeError as exc:  # weights of the wrong shape are the candidate's failure too
        if isinstance(exc, TrainingFailed):
            raise
        return {"valid": False, "combined_score": 0.0, "error": f"trained weights do not fit the policy: {exc}"[:300]}

    def grpo() -> bytes:  # the shipped GRPO program under the same budget, measured once per configuration
        w, _ = run_training(HERE / "initial_program.py", params, warm, train_pairs)
        return json.dumps(sum(held_out_accuracy(x, params, held) for x in w) / len(w)).encode()

    launch = os.environ.get(LAUNCH_ENV, "")  # the baseline trained as the candidate is: same DeepSpeed settings
    grpo_key = _key(params, (HERE / "initial_program.py").read_text(), launch)
    baseline = json.loads(cached(f"grpo-{grpo_key}.json", grpo))
    accuracy = sum(per_seed) / len(per_seed)
    metrics: dict[str, Any] = {
        "combined_score": accuracy,
        "accuracy": accuracy,
        **{f"accuracy_seed{i}": a for i, a in enumerate(per_seed)},
        "warm_start_accuracy": json.loads(cached(f"warm-acc-{_warm_key(params)}.json", lambda: json.dumps(
            held_out_accuracy(warm, params, held)).encode())),
        "grpo_accuracy": baseline,
        "gain_over_grpo": accuracy - baseline,
        "train_reward_first": sum(stats[0::2]) / len(per_seed),
        "train_reward_last": sum(stats[1::2]) / len(per_seed),
        "valid": True,
    }
    return metrics
