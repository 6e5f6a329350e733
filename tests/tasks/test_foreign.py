"""Task folders of other tools run unchanged: an OpenEvolve example and an original ASI-Evolve experiment.

The two folders under `foreign/` are written in the shape of those tools' own examples (OpenEvolve:
initial_program.py, evaluator.py importing `openevolve.evaluation_result`, config.yaml; ASI-Evolve: eval.sh
run from `steps/step_N/`, evaluator.py, initial_program without markers, input.md, config.yaml).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tasks.registry import load_task
from tasks.spec import TaskError
from tests.support.cli import asi, status_json
from tools.evaluation import evaluate_program

HERE = Path(__file__).parent / "foreign"


@pytest.fixture
def openevolve(tmp_path: Path) -> Path:
    return Path(shutil.copytree(HERE / "openevolve_minimize", tmp_path / "function_minimization"))


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    return Path(shutil.copytree(HERE / "asi_evolve_experiment", tmp_path / "best_x"))


def test_an_openevolve_folder_is_read_with_its_config(openevolve: Path) -> None:
    task = load_task(openevolve)
    assert (task.name, task.folder_format, task.steps, task.timeout_s) == ("function_minimization", "openevolve", 6, 45)
    assert task.description.startswith("You are an expert in optimization.")
    assert task.cascade_thresholds == [0.3] and task.score_fallback == "mean"
    assert (task.sampler, task.sampler_params) == ("islands", {"islands": 2})
    assert task.models == [] and task.base_urls == []  # their model settings are not taken over


def test_an_openevolve_evaluator_runs_unchanged_and_scores_like_openevolve(openevolve: Path) -> None:
    result = evaluate_program(load_task(openevolve), openevolve / "initial_program.py")
    assert result.status == "ok" and result.stage == 2, result.error
    metrics = {k: v for k, v in result.metrics.items() if k in ("runs_successfully", "value_score", "distance_score")}
    assert len(metrics) == 3 and result.score == pytest.approx(sum(metrics.values()) / 3)  # no combined_score


def test_an_openevolve_cascade_stops_below_its_threshold(openevolve: Path) -> None:
    (openevolve / "config.yaml").write_text(
        (openevolve / "config.yaml").read_text().replace("cascade_thresholds: [0.3]", "cascade_thresholds: [0.99]")
    )
    result = evaluate_program(load_task(openevolve), openevolve / "initial_program.py")
    assert (result.status, result.stage) == ("ok", 1) and result.score < 0.99


def test_without_config_yaml_openevolve_defaults_apply(openevolve: Path) -> None:
    (openevolve / "config.yaml").unlink()
    task = load_task(openevolve)
    assert task.timeout_s == 300 and task.cascade_thresholds == [0.5, 0.75, 0.9] and task.steps == 40
    assert "initial_program.py" in task.description


def test_an_asi_evolve_experiment_is_read_with_its_config(experiment: Path) -> None:
    task = load_task(experiment)
    assert (task.folder_format, task.work_layout, task.timeout_s, task.sampler) == (
        "asi-evolve-experiment", "experiment", 60, "greedy")
    assert task.description.startswith("# Task: find the best X")
    assert (task.score_metric, task.validity_metric) == ("eval_score", "success")
    assert task.initial_program == experiment / "initial_program"


def test_an_asi_evolve_eval_script_runs_in_a_copy_of_its_layout(experiment: Path) -> None:
    task = load_task(experiment)
    result = evaluate_program(task, experiment / "initial_program")
    assert (result.status, result.score, result.metrics["x"]) == ("ok", -4.0, 1.0), result.error
    assert "evaluated" in result.stdout_tail and "/steps/step_0/code" in result.stdout_tail
    assert not (experiment / "steps").exists(), "the task folder itself is never written"
    broken = experiment / "broken"
    broken.write_text("def solve():\n    return 1 / 0\n")
    failed = evaluate_program(task, broken)
    assert failed.status == "invalid" and "success" in failed.error


def test_an_unknown_folder_names_the_three_shapes(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(TaskError, match=r"expected task.yaml; or initial_program.py \+ evaluator.py \(OpenEvolve\)"):
        load_task(tmp_path)


def test_a_broken_foreign_config_is_a_one_line_error(openevolve: Path) -> None:
    (openevolve / "config.yaml").write_text("evaluator: [unclosed\n")
    with pytest.raises(TaskError, match="config.yaml: invalid YAML") as info:
        load_task(openevolve)
    assert "\n" not in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["openevolve", "experiment"])
def test_both_folders_evolve_offline_from_the_cli(request: pytest.FixtureRequest, tmp_path: Path, shape: str) -> None:
    folder = request.getfixturevalue(shape)
    assert asi("eval", str(folder), str(load_task(folder).initial_program), "--json").returncode == 0
    run_dir = tmp_path / f"run-{shape}"
    proc = asi("run", str(folder), "--steps", "3", "--run-dir", str(run_dir), "--no-cognition")
    assert proc.returncode == 0, proc.stderr
    status = status_json(run_dir)
    assert status["nodes"] == 4 and status["counts"]["ok"] >= 1 and status["initial_score"] is not None
    assert json.loads((run_dir / "config.json").read_text())["context"]["task"] == str(folder)
