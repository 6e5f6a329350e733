"""Task folders written for other tools, read as they are: OpenEvolve's examples and ASI-Evolve experiments.

A folder without `task.yaml` is recognised by its files:

- **OpenEvolve** (`initial_program.py`, `evaluator.py`, optional `config.yaml`): the config's
  `prompt.system_message` is the research brief, `evaluator.timeout` the time limit (OpenEvolve's default
  300 s), `evaluator.cascade_evaluation` / `cascade_thresholds` the cascade, `max_iterations` the default steps,
  `database.num_islands` the island count. Scores follow OpenEvolve: `combined_score`, else the mean of the
  numeric metrics.
- **ASI-Evolve experiment** (an evaluation shell script `eval.sh`, `initial_program`, optional `input.md` and
  `config.yaml`): `input.md` is the brief; the script runs in `steps/step_N/` of a copy of the folder, with the
  candidate in `code`, and writes `results.json`, whose `eval_score` is the score and `success` its validity.
  The config's `pipeline.engineer_timeout`, `database.sampling` and `pipeline.judge` are used.

Neither tool's model settings are taken over (their servers and keys are theirs): pass `--model` instead.
The result is the same raw mapping a `task.yaml` holds, validated by `tasks.spec` like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks.spec import read_yaml_mapping

OPENEVOLVE_TIMEOUT_S = 300.0  # OpenEvolve's evaluator.timeout default
OPENEVOLVE_THRESHOLDS = [0.5, 0.75, 0.9]  # OpenEvolve's cascade_thresholds default
ASI_EVOLVE_TIMEOUT_S = 300.0
SHAPES = (
    "task.yaml; or initial_program.py + evaluator.py (OpenEvolve); or eval.sh + initial_program (ASI-Evolve "
    "experiment)"
)
_SAMPLER_NAMES = {"ucb1": "ucb1", "greedy": "greedy", "random": "random", "island": "islands", "islands": "islands"}


def _config(folder: Path) -> dict[str, Any]:
    path = folder / "config.yaml"
    return read_yaml_mapping(path) if path.is_file() else {}


def _section(config: dict[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        value = config.get(key)
        config = value if isinstance(value, dict) else {}
    return config


def _brief(text: str | None, fallback: str) -> str:
    text = (text or "").strip()
    return text or fallback


def _default_brief(program: str) -> str:
    return (
        f"Improve the program {program}: a fixed evaluator runs it and scores it; a higher score is better. "
        "Change only the code between the EVOLVE-BLOCK markers, if it has any."
    )


def openevolve_task(folder: Path) -> dict[str, Any]:
    """The task of an OpenEvolve example folder."""
    config = _config(folder)
    evaluator = _section(config, "evaluator")
    task: dict[str, Any] = {
        "name": folder.name,
        "description": _brief(_section(config, "prompt").get("system_message"), _default_brief("initial_program.py")),
        "initial_program": "initial_program.py",
        "evaluator": "evaluator.py",
        "timeout_s": float(evaluator.get("timeout") or OPENEVOLVE_TIMEOUT_S),
        "score_fallback": "mean",
        "folder_format": "openevolve",
    }
    if evaluator.get("cascade_evaluation", True):
        thresholds = evaluator.get("cascade_thresholds", OPENEVOLVE_THRESHOLDS)
        task["cascade_thresholds"] = list(thresholds) if isinstance(thresholds, list | tuple) else [thresholds]
    if config.get("max_iterations"):
        task["steps"] = config["max_iterations"]
    islands = _section(config, "database").get("num_islands")
    if islands:
        task["sampler"] = "islands"
        task["sampler_params"] = {"islands": islands}
    return task


def _initial_program(folder: Path) -> str | None:
    for name in ("initial_program", "initial_program.py"):
        if (folder / name).is_file():
            return name
    return None


def asi_evolve_task(folder: Path) -> dict[str, Any]:
    """The task of an original ASI-Evolve experiment folder."""
    config = _config(folder)
    program = _initial_program(folder) or "initial_program"
    brief = (folder / "input.md").read_text() if (folder / "input.md").is_file() else None
    pipeline = _section(config, "pipeline")
    task: dict[str, Any] = {
        "name": folder.name,
        "description": _brief(brief, _default_brief(program)),
        "initial_program": program,
        "evaluator_command": "bash {experiment}/eval.sh",
        "work_layout": "experiment",
        "score_metric": "eval_score",
        "validity_metric": "success",
        "timeout_s": float(pipeline.get("engineer_timeout") or ASI_EVOLVE_TIMEOUT_S),
        "folder_format": "asi-evolve-experiment",
    }
    sampling = _section(config, "database", "sampling")
    sampler = _SAMPLER_NAMES.get(str(sampling.get("algorithm", "")).lower())
    if sampler:
        task["sampler"] = sampler
        islands = _section(sampling, "island").get("num_islands")
        if sampler == "islands" and islands:
            task["sampler_params"] = {"islands": islands}
    judge = _section(pipeline, "judge")
    if judge.get("enabled") and judge.get("ratio") is not None:
        task["judge_weight"] = judge["ratio"]
    return task


def infer_task(folder: Path) -> dict[str, Any] | None:
    """The raw task of a folder in another tool's shape, or None when it is in none of them."""
    if (folder / "eval.sh").is_file() and _initial_program(folder):
        return asi_evolve_task(folder)
    if (folder / "initial_program.py").is_file() and (folder / "evaluator.py").is_file():
        return openevolve_task(folder)
    return None
