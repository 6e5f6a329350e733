"""The task registry: built-in names, folder paths, and one-line errors for everything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.registry import BUILTIN_DIR, builtin_tasks, load_task
from tasks.spec import TaskError


def _write_task(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "task.yaml").write_text("description: a tiny task\nparams: {k: 3}\n")
    (folder / "initial_program.py").write_text("# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\n")
    (folder / "evaluator.py").write_text("def evaluate(path):\n    return {'combined_score': 1.0}\n")
    return folder


def test_builtin_tasks_lists_both_circle_packing_variants_sorted() -> None:
    names = builtin_tasks()
    assert {"circle_packing", "circle_packing_32"} <= set(names)
    assert names == sorted(names)
    assert all((BUILTIN_DIR / name / "task.yaml").is_file() for name in names)


@pytest.mark.parametrize("name", builtin_tasks())
def test_every_builtin_task_loads_with_an_evolvable_program(name: str) -> None:
    spec = load_task(name)
    assert spec.name == name
    assert spec.description.strip()
    assert spec.evaluator is not None and spec.evaluator.is_file()
    source = spec.initial_program.read_text()
    assert source.index("# EVOLVE-BLOCK-START") < source.index("# EVOLVE-BLOCK-END")


def test_load_by_name_resolves_files_inside_the_task_folder() -> None:
    spec = load_task("circle_packing")
    folder = BUILTIN_DIR / "circle_packing"
    assert spec.root == folder.resolve()
    assert spec.evaluator == (folder / "evaluator.py").resolve()
    assert spec.knowledge_dir == (folder / "knowledge").resolve()
    assert spec.params == {"n": 26}
    assert spec.reference_score == pytest.approx(2.6359830849)
    assert (spec.timeout_s, spec.memory_mb, spec.steps, spec.sampler) == (30, 2048, 40, "ucb1")


def test_circle_packing_32_shares_program_evaluator_and_notes() -> None:
    base, variant = load_task("circle_packing"), load_task("circle_packing_32")
    assert variant.params == {"n": 32}
    assert variant.evaluator == base.evaluator
    assert variant.initial_program == base.initial_program
    assert variant.knowledge_dir == base.knowledge_dir
    assert variant.reference_score == pytest.approx(2.937944526)
    assert variant.reference_label == "AlphaEvolve (n=32)"
    assert not (BUILTIN_DIR / "circle_packing_32" / "evaluator.py").exists()


def test_load_by_absolute_and_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _write_task(tmp_path / "mytask")
    assert load_task(folder).params == {"k": 3}
    assert load_task(str(folder)).name == "mytask"
    monkeypatch.chdir(tmp_path)
    assert load_task("mytask").root == folder.resolve()  # an existing folder in the working directory
    assert load_task("./mytask").root == folder.resolve()
    monkeypatch.chdir(BUILTIN_DIR.parent)
    assert load_task(Path("tasks") / "circle_packing_32").params == {"n": 32}


def test_unknown_name_is_one_line_listing_the_builtins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TaskError) as info:
        load_task("no_such_task")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("unknown task 'no_such_task' (built-in: ")
    assert "circle_packing, circle_packing_32" in message
    assert message.endswith("; or give a task folder path)")


def test_folder_without_task_yaml_is_one_line_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TaskError) as info:
        load_task(empty)
    assert "\n" not in str(info.value)
    assert "not a task folder" in str(info.value) and "OpenEvolve" in str(info.value)


def test_missing_folder_path_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(TaskError) as info:
        load_task(str(tmp_path / "absent"))
    assert "\n" not in str(info.value)
    assert "task folder not found" in str(info.value)
