"""Out-of-process evaluation of real task folders: statuses, the stage-1 cascade, shell evaluators."""

from __future__ import annotations

import shlex
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.spec import TaskSpec, load_task_dir
from tools.evaluation import defined_functions, evaluate_program
from tools.jail_view import WORK
from tools.results import EvalResult

LOAD_PROGRAM = """
import importlib.util, json, os
from pathlib import Path

def load(path):
    spec = importlib.util.spec_from_file_location("candidate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
"""

SCORE_F = LOAD_PROGRAM + """
def evaluate(program_path):
    return {"combined_score": load(program_path).f(), "program": program_path, "cwd": os.getcwd()}
"""


def make_task(
    root: Path, evaluator: str | None = SCORE_F, program: str = "def f():\n    return 0.75\n", **manifest: Any
) -> TaskSpec:
    root.mkdir(parents=True, exist_ok=True)
    (root / "initial_program.py").write_text(textwrap.dedent(program))
    if evaluator is not None:
        (root / "evaluator.py").write_text(textwrap.dedent(evaluator))
    (root / "task.yaml").write_text(yaml.safe_dump({"description": "a test task", **manifest}))
    return load_task_dir(root)


def evaluate_with(root: Path, evaluator: str | None, **manifest: Any) -> EvalResult:
    task = make_task(root, evaluator, **manifest)
    return evaluate_program(task, task.initial_program)


def test_ok_scores_a_copy_of_the_program(tmp_path: Path) -> None:
    program = "print('{\"combined_score\": 999}')\ndef f():\n    return 0.75\n"
    task = make_task(tmp_path / "task", program=program)
    res = evaluate_program(task, task.initial_program)
    assert res.status == "ok" and res.score == 0.75 and res.error == "" and res.stage == 2
    assert "999" in res.stdout_tail, "what the program prints is kept as a log, never taken as the score"
    work = Path(res.metrics["cwd"])
    assert res.metrics["program"] == str(work / "program.py") and work != task.root
    assert not work.exists(), "a temporary work dir is removed afterwards"


def test_given_work_dir_is_kept(tmp_path: Path) -> None:
    task = make_task(tmp_path / "task")
    res = evaluate_program(task, task.initial_program, work_dir=tmp_path / "node")
    assert res.status == "ok"
    assert (tmp_path / "node" / "program.py").read_text() == task.initial_program.read_text()


def test_non_json_values_are_converted(tmp_path: Path) -> None:
    evaluator = """
    import numpy as np
    def evaluate(program_path):
        return {"combined_score": np.float64(0.5), "arr": np.arange(3), "pair": (1, 2),
                "flag": np.bool_(True), "inf": float("inf"), "n": np.int64(4)}
    """
    res = evaluate_with(tmp_path, evaluator)
    assert res.status == "ok" and res.score == 0.5
    plain = {"combined_score": 0.5, "arr": [0, 1, 2], "pair": [1, 2], "flag": True, "inf": None, "n": 4}
    assert res.metrics == plain
    assert res.to_json()


def test_evaluator_exception_fails_with_one_line(tmp_path: Path) -> None:
    evaluator = "def evaluate(program_path):\n    raise RuntimeError('evaluator broke\\nsecond line')\n"
    res = evaluate_with(tmp_path, evaluator)
    assert res.status == "failed" and res.score is None
    assert res.error == "RuntimeError: evaluator broke"
    assert "Traceback" in res.stderr_tail


def test_non_dict_result_fails(tmp_path: Path) -> None:
    res = evaluate_with(tmp_path, "def evaluate(p):\n    return [1]\n")
    assert res.status == "failed" and res.error == "TypeError: evaluate() returned list, expected a dict"


def test_evaluator_killed_without_output_fails_with_exit_reason(tmp_path: Path) -> None:
    evaluator = "import os, sys\ndef evaluate(p):\n    print('dying', file=sys.stderr)\n    os._exit(7)\n"
    res = evaluate_with(tmp_path, evaluator)
    assert res.status == "failed" and res.error == "exit code 7: dying"


def test_program_that_exits_quietly_fails(tmp_path: Path) -> None:
    task = make_task(tmp_path, program="import os\nos._exit(0)\n")
    res = evaluate_program(task, task.initial_program)
    assert res.status == "failed" and res.error == "no evaluator result sent"


def test_relative_work_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = make_task(tmp_path / "task")
    monkeypatch.chdir(tmp_path)
    res = evaluate_program(task, Path("task/initial_program.py"), work_dir=Path("rel/node"))
    assert res.status == "ok" and res.metrics["program"].endswith("/program.py")
    assert (tmp_path / "rel/node/program.py").read_text() == task.initial_program.read_text()


def test_memory_hungry_evaluation_fails(tmp_path: Path) -> None:
    evaluator = "def evaluate(p):\n    return {'combined_score': len(bytearray(1024 ** 3))}\n"
    res = evaluate_with(tmp_path, evaluator, memory_mb=256)
    assert res.status == "failed" and res.error.startswith("MemoryError")


def test_infinite_loop_times_out(tmp_path: Path) -> None:
    task = make_task(tmp_path, program="def f():\n    while True:\n        pass\n")
    res = evaluate_program(task, task.initial_program, timeout_s=2)
    assert res.status == "timeout" and res.score is None
    assert res.error == "timed out after 2 s"
    assert 1.9 < res.duration_s < 6


def test_invalid_result_keeps_the_evaluators_reason(tmp_path: Path) -> None:
    evaluator = "def evaluate(p):\n    return {'valid': False, 'error': 'overlap', 'combined_score': 3.0}\n"
    res = evaluate_with(tmp_path, evaluator)
    assert res.status == "invalid" and res.score is None and res.error == "overlap"
    assert res.metrics["combined_score"] == 3.0


@pytest.mark.parametrize("score", ["float('nan')", "None", "'high'", "True"])
def test_missing_or_non_finite_score_is_invalid(tmp_path: Path, score: str) -> None:
    evaluator = f"def evaluate(p):\n    return {{'combined_score': {score}, 'other': 1}}\n"
    res = evaluate_with(tmp_path, evaluator)
    assert res.status == "invalid" and res.error == "no finite combined_score" and res.metrics["other"] == 1


CASCADE = """
def evaluate_stage1(program_path):
    return {"combined_score": STAGE1, "stage1": 1}
def evaluate(program_path):
    return {"combined_score": 1.0, "stage2": 1}
"""


def test_stage1_below_threshold_stops_the_cascade(tmp_path: Path) -> None:
    task = make_task(tmp_path, CASCADE.replace("STAGE1", "0.1"), stage1_threshold=0.5)
    res = evaluate_program(task, task.initial_program)
    assert (res.status, res.score, res.stage) == ("ok", 0.1, 1)
    assert "stage2" not in res.metrics


def test_stage1_above_threshold_runs_stage2(tmp_path: Path) -> None:
    task = make_task(tmp_path, CASCADE.replace("STAGE1", "0.9"), stage1_threshold=0.5)
    res = evaluate_program(task, task.initial_program)
    assert (res.status, res.score, res.stage) == ("ok", 1.0, 2)
    assert res.metrics["stage1"] == res.metrics["stage2"] == 1, "later stages refine the earlier metrics"


def test_failing_stage1_stops_the_cascade(tmp_path: Path) -> None:
    evaluator = CASCADE.replace('return {"combined_score": STAGE1, "stage1": 1}', "raise ValueError('bad stage1')")
    res = evaluate_with(tmp_path, evaluator, stage1_threshold=0.5)
    assert (res.status, res.stage, res.error) == ("failed", 1, "ValueError: bad stage1")
    assert "stage2" not in res.metrics


def test_stage2_budget_is_what_stage1_left(tmp_path: Path) -> None:
    evaluator = """
    import time
    def evaluate_stage1(p):
        time.sleep(1.5)
        return {'combined_score': 1}
    def evaluate(p):
        time.sleep(1.5)
        return {'combined_score': 2}
    """
    task = make_task(tmp_path, evaluator, stage1_threshold=0.5)
    res = evaluate_program(task, task.initial_program, timeout_s=2.5)
    assert (res.status, res.stage, res.error) == ("timeout", 2, "timed out after 2.5 s")
    assert res.duration_s < 4.5


def test_evaluate_stage1_is_found_in_the_source(tmp_path: Path) -> None:
    path = tmp_path / "e.py"
    cases = {
        "def evaluate_stage1(p):\n    pass\n": True,
        "if True:\n    def evaluate_stage1(p):\n        pass\n": True,
        "evaluate_stage1 = print\n": True,
        "class C:\n    def evaluate_stage1(self, p):\n        pass\n": False,
        "def evaluate(p):\n    pass\n": False,
        "def evaluate_stage1(:\n": False,
    }
    for source, expected in cases.items():
        path.write_text(source)
        assert ("evaluate_stage1" in defined_functions(path)) is expected, source


def test_threshold_unset_skips_stage1(tmp_path: Path) -> None:
    task = make_task(tmp_path, CASCADE.replace("STAGE1", "0.1"))
    res = evaluate_program(task, task.initial_program)
    assert (res.score, res.stage) == (1.0, 2) and "stage1" not in res.metrics


def _shell_task(root: Path, script: str, command: str) -> TaskSpec:
    root.mkdir(parents=True, exist_ok=True)
    (root / "score.py").write_text(textwrap.dedent(script))
    return make_task(root, None, evaluator_command=command, params={"bonus": 2})


SHELL_SCORE = """
import json, os, sys
lines = open(sys.argv[1]).read().splitlines()
params = json.loads(os.environ["ASI_EVOLVE_TASK_PARAMS"])
json.dump({"combined_score": len(lines) + params["bonus"], "cwd": os.getcwd()}, open("results.json", "w"))
"""


def test_shell_evaluator_writes_results_json(tmp_path: Path) -> None:
    command = f'{shlex.quote(sys.executable)} "$ASI_EVOLVE_TASK_DIR/score.py" {{program}}'
    task = _shell_task(tmp_path / "task", SHELL_SCORE, command)
    res = evaluate_program(task, task.initial_program, work_dir=tmp_path / "work dir")
    assert res.status == "ok" and res.score == 4.0, res.error
    assert res.metrics["cwd"] == WORK, "the command runs in the jail's work dir"


def test_shell_evaluator_without_results_fails(tmp_path: Path) -> None:
    program = tmp_path / "initial_program.py"
    res = evaluate_program(_shell_task(tmp_path, "", "echo nothing"), program)
    assert res.status == "failed" and res.error == "no results.json written"
    res = evaluate_program(_shell_task(tmp_path, "", "echo broken >&2; exit 3"), program)
    assert res.status == "failed" and res.error == "exit code 3: broken"
    res = evaluate_program(_shell_task(tmp_path, "", "echo '{nope' > results.json"), program)
    assert res.status == "failed" and res.error.startswith("garbled results.json")


def test_the_original_program_survives_a_self_destructive_candidate(tmp_path: Path) -> None:
    program = """
    import os
    for attempt in (lambda: open(__file__, 'w').write('garbage'), lambda: os.remove(__file__)):
        try:
            attempt()
        except OSError:
            pass
    def f():
        return 1.0
    """
    task = make_task(tmp_path / "task", program=program)
    before = task.initial_program.read_bytes()
    res = evaluate_program(task, task.initial_program)
    assert res.status == "ok" and res.score == 1.0
    assert task.initial_program.read_bytes() == before
    # Even when the caller's program already lives in the work dir, it is put back afterwards.
    node = tmp_path / "node"
    node.mkdir()
    (node / "program.py").write_bytes(before)
    assert evaluate_program(task, node / "program.py", work_dir=node).status == "ok"
    assert (node / "program.py").read_bytes() == before


def test_params_and_data_dir_reach_the_evaluator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ASI_EVOLVE_DATA_DIR", str(tmp_path / "data"))
    evaluator = """
    import json, os
    def evaluate(p):
        params = json.loads(os.environ["ASI_EVOLVE_TASK_PARAMS"])
        data = os.environ.get("ASI_EVOLVE_DATA_DIR")
        key_visible = "OPENAI_API_KEY" in os.environ
        return {"combined_score": params["n"], "params": params, "data": data, "key_visible": key_visible}
    """
    task = make_task(tmp_path / "task", evaluator, params={"n": 7, "name": "x", "sizes": [1, 2]})
    res = evaluate_program(task, task.initial_program)
    assert res.status == "ok" and res.score == 7.0
    assert res.metrics["params"] == {"n": 7, "name": "x", "sizes": [1, 2]}
    assert res.metrics["data"] == str(tmp_path / "data") and res.metrics["key_visible"] is False


THREE_STAGES = """
def evaluate_stage1(p):
    return {"combined_score": 0.6, "quick": 1}
def evaluate_stage2(p):
    return {"combined_score": S2, "medium": 2}
def evaluate_stage3(p):
    return {"combined_score": 1.0, "full": 3}
def evaluate(p):
    raise AssertionError("with evaluate_stage2 defined, evaluate is not a cascade stage")
"""


@pytest.mark.parametrize(("stage2", "stage", "score"), [("0.9", 3, 1.0), ("0.7", 2, 0.7)])
def test_a_three_stage_cascade_merges_metrics_and_stops_below_each_threshold(
    tmp_path: Path, stage2: str, stage: int, score: float
) -> None:
    res = evaluate_with(tmp_path, THREE_STAGES.replace("S2", stage2), cascade_thresholds=[0.5, 0.8])
    assert (res.status, res.stage, res.score) == ("ok", stage, score)
    assert res.metrics["quick"] == 1 and res.metrics["medium"] == 2 and ("full" in res.metrics) == (stage == 3)


def test_stage1_threshold_and_cascade_thresholds_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="either 'stage1_threshold' or 'cascade_thresholds'"):
        make_task(tmp_path, THREE_STAGES, stage1_threshold=0.5, cascade_thresholds=[0.5])
