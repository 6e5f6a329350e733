"""The tiny task: a one-parameter program (best at X = 3) and its fast evaluator, written to a folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

TINY_PROGRAM = textwrap.dedent(
    """\
    # A one-parameter program: the score is -(x - 3)^2, best at x = 3.
    # EVOLVE-BLOCK-START
    X = 1.0
    Y = 2


    def value():
        return X
    # EVOLVE-BLOCK-END


    if __name__ == "__main__":
        print(value())
    """
)

TINY_EVALUATOR = textwrap.dedent(
    """\
    import importlib.util


    def evaluate(program_path):
        spec = importlib.util.spec_from_file_location("candidate", program_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        x = float(module.value())
        return {"combined_score": -(x - 3.0) ** 2, "x": x}
    """
)


def write_tiny_task(folder: Path, **yaml_extra: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "initial_program.py").write_text(TINY_PROGRAM)
    (folder / "evaluator.py").write_text(TINY_EVALUATOR)
    fields = {"name": "tiny", "description": "Move X towards 3.", "timeout_s": 20, "steps": 5, "sampler": "greedy"}
    fields.update(yaml_extra)  # values are YAML text
    (folder / "task.yaml").write_text("".join(f"{k}: {v}\n" for k, v in fields.items()))
    return folder
