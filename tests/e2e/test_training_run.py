"""An offline run of a training task through the CLI: the Engineer launches DeepSpeed trainings through the trial's
tool node, their progress lands in each node's training.log, and scored nodes are stored."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.cli import asi, status_json

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not os.environ.get("ASI_EVOLVE_DATA_DIR"), reason="needs ASI_EVOLVE_DATA_DIR (tiny-shakespeare)")]


def test_a_tiny_linear_attention_run_stores_scored_trained_nodes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = asi("run", "linear_attention", "--config", "smoke", "--param", "lm.steps=12", "--steps", "2",
               "--run-dir", str(run_dir), "--seed", "0", "--no-cognition")
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = status_json(run_dir)
    assert info["nodes"] == 3 and info["initial_score"] is not None and info["best_score"] is not None
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["context"]["config"], config["context"]["params"]) == ("smoke", ["lm.steps=12"])
    logs = sorted(run_dir.glob("nodes/*/training.log"))
    assert logs, "no training progress was logged"
    events = [json.loads(line) for line in logs[0].read_text().splitlines()]
    assert {"mqar", "lm"} == {e["phase"] for e in events}
    assert all({"step", "steps", "loss", "tokens_per_s"} <= set(e) for e in events)
    assert events[-1]["step"] == events[-1]["steps"] == 30 + 12  # smoke MQAR steps, then lm.steps from --param


def test_eval_scores_a_reference_and_shows_training_progress(tmp_path: Path) -> None:
    program = Path(__file__).resolve().parents[2] / "tasks" / "linear_attention" / "references" / "deltanet.py"
    proc = asi("eval", "linear_attention", str(program), "--config", "smoke", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["status"] == "ok" and 0 < result["score"] < 1
    assert "training: " in proc.stderr and "phase mqar" in proc.stderr
    bad = asi("eval", "linear_attention", str(program), "--config", "huge")
    assert bad.returncode == 2 and "has no config 'huge' (choose from: cpu, gpu, smoke)" in bad.stderr
    bad = asi("eval", "linear_attention", str(program), "--param", "lm.steps")
    assert bad.returncode == 2 and "--param wants KEY=VALUE" in bad.stderr


def test_an_unusable_op_cache_is_a_one_line_error(tmp_path: Path) -> None:
    program = Path(__file__).resolve().parents[2] / "tasks" / "linear_attention" / "initial_program.py"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    bad = asi("eval", "linear_attention", str(program), "--config", "smoke",
              env={"ASI_EVOLVE_TORCH_EXTENSIONS_DIR": str(blocker / "ext")})
    assert bad.returncode == 2, bad.stderr[-2000:]
    assert bad.stderr.strip().splitlines()[-1].startswith("error: cannot use ") and "Traceback" not in bad.stderr
