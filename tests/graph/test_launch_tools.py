"""The launcher registry: which tool a task's Engineer calls, with which arguments, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.launch_tools import LAUNCHERS, check_launcher, launch_call, make_launch_tools
from tasks.registry import load_task


def test_every_launcher_has_a_tool_in_the_tool_node() -> None:
    tools = make_launch_tools(lambda context: None)  # the provider is only called when a tool runs
    assert [t.name for t in tools] == [launcher.tool_name for launcher in LAUNCHERS.values()]
    assert {"run_program", "train_with_deepspeed"} <= {t.name for t in tools}
    trainer = next(t for t in tools if t.name == "train_with_deepspeed")
    # a call that leaves an option out (a model's, or one typed in Studio) gets the task's, not a fixed default
    assert {name: trainer.args[name].get("default") for name in ("config", "num_gpus", "zero_stage", "bf16")} == \
        {"config": "", "num_gpus": None, "zero_stage": None, "bf16": None}


def test_a_task_launches_through_its_launcher(tmp_path: Path) -> None:
    plain = launch_call(load_task("circle_packing"), tmp_path / "program.py", "run-1")
    assert plain == {"name": "run_program", "args": {"program_path": str(tmp_path / "program.py")}, "id": "run-1"}
    trained = launch_call(load_task("linear_attention"), tmp_path / "program.py", "run-2")
    assert trained["name"] == "train_with_deepspeed"
    assert trained["args"] == {"program_path": str(tmp_path / "program.py"), "config": "cpu", "num_gpus": 0,
                               "zero_stage": 0, "bf16": False}


def test_an_unknown_launcher_or_bad_option_is_refused_in_one_line(tmp_path: Path) -> None:
    task = load_task("circle_packing")
    with pytest.raises(ValueError, match=r"unknown launcher 'slurm' \(choose from: deepspeed, rdkit, run_program\)"):
        check_launcher(task.model_copy(update={"launcher": "slurm"}))
    bad = load_task("linear_attention").model_copy(update={"launcher_options": {"zero_stage": 7}})
    with pytest.raises(ValueError, match="zero_stage must be 0, 1, 2 or 3"):
        check_launcher(bad)
