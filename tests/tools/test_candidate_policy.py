"""The static policy for candidates that share a training harness's process: ordinary model code passes, the
ways out of the candidate's own tensors are refused with their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.candidate_policy import policy_error, policy_findings

TASKS = Path(__file__).resolve().parents[2] / "tasks"
TORCH = ("__future__", "torch", "math", "functools")


SHIPPED = sorted(p for task in ("linear_attention", "rl_algorithm")
                 for p in [TASKS / task / "initial_program.py", *(TASKS / task / "references").glob("*.py")])


@pytest.mark.parametrize("program", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_shipped_programs_pass(program: Path) -> None:
    assert policy_findings(program.read_text(), (*TORCH, "fla")) == []


@pytest.mark.parametrize(("source", "reason"), [
    ("import sys\n", "line 1: import of sys"),
    ("from os import path\n", "import of os"),
    ("from . import evaluator\n", "import of ."),
    ("import torch\nm = torch.sys.modules\n", "attribute .sys"),
    ("x = eval('1')\n", "use of eval"),
    ("f = getattr\n", "use of getattr"),
    ("b = __builtins__\n", "use of __builtins__"),
    ("def f(t):\n    return t.grad_fn.next_functions\n", "attribute .grad_fn"),
    ("class A:\n    def f(self):\n        return self.__class__.__mro__\n", "attribute .__class__"),
    ("def f(t):\n    return t.__globals__\n", "attribute .__globals__"),
    ("import torch\ntorch.save({}, 'x')\n", "attribute .save"),
    ("name = '__main__'\n", "string naming __main__"),
    ("path = '/proc/self/fd'\n", "string naming /proc"),
    ("def f(:\n", "syntax error on line 1"),
])
def test_ways_out_are_refused_with_their_line(source: str, reason: str) -> None:
    assert any(reason in finding for finding in policy_findings(source, TORCH)), policy_findings(source, TORCH)


def test_ordinary_model_code_and_prose_pass() -> None:
    source = '''"""Docstrings may say __main__, sys.modules or evaluator: prose is not code."""
import math
from functools import partial

import torch
from torch import nn


class Mixer(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d, d)
        self.scale = partial(torch.mul, other=1 / math.sqrt(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale(self.proj(x)).softmax(-1) @ x.transpose(1, 2) @ x  # name: type(self).__name__
'''
    assert policy_findings(source, TORCH) == [] and policy_error(source, TORCH) == ""
    error = policy_error("import os\nimport sys\nimport gc\nimport ctypes\n", TORCH)
    assert error.startswith("refused before training") and error.endswith("(+1 more)") and "\n" not in error
