"""The rl_algorithm task's gpu config, trusted side: math problems read with `datasets`, a real causal LM trained
in the jail by `train_hf.py` with the candidate's update rule, its answers checked here.

Training problems come from `params.train_set` (GSM8K train: the answer follows "####"); evaluation sets from
`params.eval_sets` (MATH-500, AIME 2024, AMC 2023). Their answers stay in this process; the jail gets the
questions only. Fitness is the mean accuracy over the evaluation sets; each set's accuracy is reported.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from answers import is_correct

from tools.deepspeed_launch import train

HERE = Path(__file__).resolve().parent
DATA_ENV = "ASI_EVOLVE_DATA_DIR"


class ConfigError(ValueError):
    """The gpu config names a model folder or data set that is not there; one line."""


def math_dir() -> Path:
    root = os.environ.get(DATA_ENV)
    if not root or not (Path(root) / "math").is_dir():
        raise ConfigError(f"the math data sets are not found: set {DATA_ENV} to the data folder holding math/")
    return Path(root) / "math"


def read_set(relative: str, limit: int, cache: str) -> list[tuple[str, str]]:
    """(question, gold answer) rows of one JSON Lines set, read with `datasets`."""
    from datasets import load_dataset

    path = math_dir() / relative
    if not path.is_file():
        raise ConfigError(f"data set not found: {path}")
    rows = load_dataset("json", data_files=str(path), split="train", cache_dir=cache)
    if limit:
        rows = rows.select(range(min(limit, len(rows))))
    out = []
    for row in rows:
        question = row.get("question") or row.get("problem")
        answer = row.get("answer")
        if isinstance(answer, str) and "####" in answer:  # GSM8K: the rationale, then "#### 42"
            answer = answer.split("####")[-1].strip()
        if isinstance(answer, float) and answer.is_integer():
            answer = int(answer)
        out.append((str(question), str(answer).replace(",", "")))
    return out


def evaluate_hf(program: Path, params: dict[str, Any]) -> dict[str, Any]:
    named = str(params.get("policy") or "")
    policy = Path(named).expanduser()
    if not named or not (policy / "config.json").is_file():
        raise ConfigError("the gpu config needs a Hugging Face model folder (with config.json) as --param "
                          f"policy=PATH; {'none is set' if not named else repr(named) + ' is not one'}")
    with tempfile.TemporaryDirectory(prefix="rl-hf-") as tmp:
        os.chmod(tmp, 0o755)
        train_rows = read_set(params["train_set"], params.get("train_limit", 0), tmp + "/hf")
        evals = {Path(name).parent.name or name: read_set(name, params.get("eval_limit", 0), tmp + "/hf")
                 for name in params["eval_sets"]}
        config = {**{k: v for k, v in params.items() if k not in ("train_set", "eval_sets", "policy")},
                  "train_problems": train_rows, "eval_batch": params.get("eval_batch", 8),
                  "eval_questions": {name: [q for q, _ in rows] for name, rows in evals.items()}}
        config_file = Path(tmp) / "config.json"
        config_file.write_text(json.dumps(config))
        config_file.chmod(0o644)
        files = {"config.json": config_file, "answers.py": HERE / "answers.py", "update.py": HERE / "update.py",
                 "policy": policy}
        run = train(program, HERE / "train_hf.py", files=files, args=["config.json"],
                    timeout_s=params.get("train_timeout_s"))
    problem = run.failure()
    if problem:
        raise RuntimeError(problem)
    try:
        answers = json.loads(run.result)["answers"]
        got = {name: [str(t) for t in answers[name]] for name in evals}
    except (ValueError, KeyError, TypeError) as exc:
        return {"valid": False, "combined_score": 0.0, "error": f"unreadable training result ({exc})"[:300]}
    metrics: dict[str, Any] = {"valid": True}
    for name, rows in evals.items():
        texts = got[name]
        if len(texts) != len(rows):
            return {"valid": False, "combined_score": 0.0, "error": f"{len(texts)} answers for {len(rows)} {name}"}
        metrics[f"accuracy_{name}"] = sum(is_correct(t, gold) for t, (_, gold) in zip(texts, rows, strict=True)) \
            / max(len(rows), 1)
    scores = [metrics[f"accuracy_{name}"] for name in evals]
    metrics["accuracy"] = metrics["combined_score"] = sum(scores) / len(scores)
    return metrics
