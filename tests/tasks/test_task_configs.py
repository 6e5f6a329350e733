"""Task variants (`configs`, chosen with --config) and the launcher a task names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.registry import load_task
from tasks.spec import TaskError


def _task(folder: Path, extra: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "task.yaml").write_text("description: variants\nparams: {a: 1, b: {c: 2}}\ntimeout_s: 10\n" + extra)
    (folder / "initial_program.py").write_text("# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\n")
    (folder / "evaluator.py").write_text("def evaluate(path):\n    return {'combined_score': 1.0}\n")
    return folder


VARIANTS = """config: small
configs:
  small: {params: {a: 2, b: {d: 3}}}
  big: {params: {b: {c: 9}}, timeout_s: 99, launcher_options: {zero_stage: 1}}
"""


def test_the_default_variant_applies_and_another_can_be_chosen(tmp_path: Path) -> None:
    folder = _task(tmp_path / "t", VARIANTS)
    small = load_task(folder)
    assert (small.config, small.params, small.timeout_s) == ("small", {"a": 2, "b": {"c": 2, "d": 3}}, 10)
    big = load_task(folder, "big")
    assert (big.config, big.params, big.timeout_s) == ("big", {"a": 1, "b": {"c": 9}}, 99)
    assert big.launcher_options == {"zero_stage": 1}
    assert big.configs == small.configs  # the variants stay known, so verify can pick another


def test_an_unknown_or_invalid_variant_is_one_line(tmp_path: Path) -> None:
    folder = _task(tmp_path / "t", VARIANTS + "  broken: {timeout_s: -5}\n")
    with pytest.raises(TaskError, match=r"has no config 'huge' \(choose from: big, broken, small\)"):
        load_task(folder, "huge")
    with pytest.raises(TaskError, match="config 'broken': timeout_s"):
        load_task(folder, "broken")
    with pytest.raises(TaskError, match="configs may not set name"):
        load_task(_task(tmp_path / "u", "configs: {x: {name: other}}\n"))
    with pytest.raises(TaskError, match="config 'nope' is not among configs"):
        load_task(_task(tmp_path / "v", "config: nope\n"))


def test_a_task_without_variants_refuses_one(tmp_path: Path) -> None:
    folder = _task(tmp_path / "t", "")
    assert load_task(folder).config is None
    with pytest.raises(TaskError, match="choose from: none"):
        load_task(folder, "gpu")


def test_param_overrides_apply_after_the_variant_key_by_key(tmp_path: Path) -> None:
    folder = _task(tmp_path / "t", VARIANTS)
    spec = load_task(folder, "small", ("a=7", "b.d=[1, x]", "b.c="))
    assert spec.params == {"a": 7, "b": {"c": None, "d": [1, "x"]}}
    assert load_task(folder, "big", ("b.c=1",)).timeout_s == 99  # the variant still holds beneath the overrides
    assert load_task(folder, None, ("b.c=c: d",)).params["b"]["c"] == {"c": "d"}  # YAML, as task.yaml reads it
    assert load_task(folder, None, ("a=[unclosed",)).params["a"] == "[unclosed"  # not YAML: kept as the text
    for bad in ("a", "=1", "b..c=1", ".a=1"):
        with pytest.raises(TaskError, match="--param wants KEY=VALUE"):
            load_task(folder, None, (bad,))
    with pytest.raises(TaskError, match=r"--param b.x: t has no parameter 'x' in b \(known: c, d\)"):
        load_task(folder, None, ("b.x=1",))  # a typo is refused, not stored as a parameter nobody reads
    with pytest.raises(TaskError, match="has no parameter 'z' in a"):
        load_task(folder, None, ("a.z=1",))


def test_launcher_shorthand_and_its_rules(tmp_path: Path) -> None:
    spec = load_task(_task(tmp_path / "t", "isolation: split\nlauncher: {name: deepspeed, num_gpus: auto}\n"))
    assert (spec.launcher, spec.launcher_options) == ("deepspeed", {"num_gpus": "auto"})
    with pytest.raises(TaskError, match="'launcher: deepspeed' needs 'isolation: split'"):
        load_task(_task(tmp_path / "u", "launcher: deepspeed\n"))
    with pytest.raises(TaskError, match="needs a 'name'"):
        load_task(_task(tmp_path / "v", "launcher: {num_gpus: 1}\n"))
    assert load_task("circle_packing").launcher == "run_program"
    variant = "isolation: split\nlauncher: {name: deepspeed, num_gpus: 0}\nconfigs: {big: {launcher: " \
              "{name: deepspeed, num_gpus: 3}}}\n"
    big = load_task(_task(tmp_path / "w", variant), "big")  # a variant's shorthand wins over the base's options
    assert (big.launcher, big.launcher_options) == ("deepspeed", {"num_gpus": 3})


def test_linear_attention_has_cpu_and_gpu_variants() -> None:
    cpu, gpu = load_task("linear_attention"), load_task("linear_attention", "gpu")
    assert (cpu.config, cpu.launcher, gpu.config) == ("cpu", "deepspeed", "gpu")
    assert gpu.params["d_model"] > cpu.params["d_model"] and gpu.params["lm"]["seq_len"] == 2048
    assert gpu.launcher_options["num_gpus"] == "auto"
