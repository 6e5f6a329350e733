"""What a training script run by `tools.deepspeed_launch` uses inside the jail, importable there as `asi_harness`.

Standalone (stdlib only): the launcher hands this file into the jail's work dir beside the script, so every
task's harness speaks the same protocol — the candidate from `program.py`, the launch part of the DeepSpeed
config, progress lines, and the result file the trusted evaluator reads.
"""

from __future__ import annotations

import importlib.util
import json
import os
from types import ModuleType

PROGRESS_PREFIX = "@asi-progress "


def load_candidate(path: str = "program.py") -> ModuleType:
    """The candidate program as a module (its top-level code runs here, inside the jail)."""
    spec = importlib.util.spec_from_file_location("candidate_program", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the candidate program {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ds_config() -> dict:
    """The launch part of the DeepSpeed config (ZeRO stage, bf16, clipping); the script adds batch and optimizer."""
    with open(os.environ["ASI_EVOLVE_DS_CONFIG"]) as f:
        return json.load(f)


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def progress(**fields: object) -> None:
    """One progress line (step, steps, loss, tokens_per_s, lr, elapsed_s, phase): streamed to the node's log."""
    print(PROGRESS_PREFIX + json.dumps(fields), flush=True)


def write_result(data: bytes) -> None:
    """The training's outcome for the trusted evaluator; only rank 0's counts."""
    if rank() != 0:
        return
    with open(os.path.join(os.environ["ASI_EVOLVE_TRAIN_OUT"], "result.bin"), "wb") as out:
        out.write(data)
