"""`asi-evolve verify`: the best nodes re-evaluated under another configuration and several seeds, stored beside
their exploration scores, shown by `status` and `best`."""

from __future__ import annotations

import json
from pathlib import Path

from knowledge.database import NodeDatabase
from tests.support.cli import asi, status_json

# the evaluator adds the seed it is handed and the task's `bonus` parameter, so what verify stores is checkable
SEEDED_EVALUATOR = """
import importlib.util, json, os


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = float(module.value())
    seed = int(os.environ.get("ASI_EVOLVE_SEED", "0"))
    bonus = json.loads(os.environ["ASI_EVOLVE_TASK_PARAMS"]).get("bonus", 0)
    return {"combined_score": -(x - 3.0) ** 2 + seed + bonus, "x": x, "seed": seed}
"""


def test_verify_stores_seeded_larger_scale_scores_beside_the_exploration_ones(tiny_task: Path,
                                                                             tmp_path: Path) -> None:
    (tiny_task / "evaluator.py").write_text(SEEDED_EVALUATOR)
    with (tiny_task / "task.yaml").open("a") as manifest:
        manifest.write("configs:\n  big: {params: {bonus: 10}}\nverify_config: big\n")
    run_dir = tmp_path / "run"
    proc = asi("run", str(tiny_task), "--steps", "4", "--run-dir", str(run_dir), "--no-cognition")
    assert proc.returncode == 0, proc.stderr
    before = {n.id: n.score for n in NodeDatabase(run_dir / "run.db").nodes()}

    proc = asi("verify", str(run_dir), "--top", "2", "--seeds", "3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("verified") >= 2
    info = status_json(run_dir)
    verified = info["verified"]
    assert len(verified) == 2 and {v["config"] for v in verified} == {"big"}
    best = max(before.values())
    top = verified[0]
    # mean over fresh seeds 1, 2, 3 (not the exploration's 0) plus the big config's bonus; the exploration score
    # is kept as it was
    assert top["score"] == best + 2 + 10 and top["scores"] == [best + 11, best + 12, best + 13]
    assert top["exploration_score"] == best and top["metrics"]["seed"] == 2
    assert {n.id: n.score for n in NodeDatabase(run_dir / "run.db").nodes()} == before
    folder = next(run_dir.glob("nodes/*/verify-big"))
    assert json.loads((folder / "verification.json").read_text())["seeds"] == 3

    shown = asi("status", str(run_dir))
    assert "verified" in shown.stdout and "over 3 seeds (config big)" in shown.stdout
    chosen = asi("best", str(run_dir), "--verified")
    assert chosen.returncode == 0 and "EVOLVE-BLOCK-START" in chosen.stdout
    assert f"verified {top['score']:.10g}" in chosen.stderr


def test_verify_refuses_what_it_cannot_do_in_one_line(tiny_task: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert asi("run", str(tiny_task), "--steps", "1", "--run-dir", str(run_dir), "--no-cognition").returncode == 0
    bad = asi("verify", str(run_dir), "--config", "huge")
    assert bad.returncode == 2 and "has no config 'huge'" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    none = asi("best", str(run_dir), "--verified")
    assert none.returncode == 2 and "no verified node" in none.stderr
    missing = asi("verify", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "not a run directory" in missing.stderr
