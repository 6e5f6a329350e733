"""The linear_attention task through its real path: the trusted evaluator has the harness train each mixer under
DeepSpeed in the jail, then scores what came back against answers only it holds."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from tasks.registry import BUILTIN_DIR, load_task
from tools.evaluation import evaluate_program
from tools.results import EvalResult

FOLDER = BUILTIN_DIR / "linear_attention"
PROGRAMS = {"linear": FOLDER / "initial_program.py", "softmax": FOLDER / "references" / "softmax_attention.py",
            "deltanet": FOLDER / "references" / "deltanet.py",
            "gated_deltanet": FOLDER / "references" / "gated_deltanet.py"}
METRICS = {"mqar_accuracy", "mqar_accuracy_long", "mqar_recall", "lm_loss", "parameters", "tokens_per_s",
           "scaling_exponent", "flop_exponent", "causal_drift", "combined_score"}

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not os.environ.get("ASI_EVOLVE_DATA_DIR"), reason="needs ASI_EVOLVE_DATA_DIR (tiny-shakespeare)")]


def _evaluate(program: Path, config: str = "smoke") -> EvalResult:
    return evaluate_program(load_task("linear_attention", config), program)


def _candidate(tmp_path: Path, block: str) -> Path:
    """The initial program with its TokenMixer's forward replaced by `block` (a hostile or broken design)."""
    source = PROGRAMS["linear"].read_text()
    start = source.index("    def forward(self, x: torch.Tensor) -> torch.Tensor:")
    end = source.index("# EVOLVE-BLOCK-END")
    path = tmp_path / "candidate.py"
    path.write_text(source[:start] + textwrap.indent(textwrap.dedent(block), "    ") + "\n\n" + source[end:])
    return path


@pytest.fixture(scope="module")
def cpu_results() -> dict[str, EvalResult]:
    """The cpu config (what `asi-evolve run linear_attention` uses) for the initial program and two references."""
    return {name: _evaluate(PROGRAMS[name], "cpu") for name in ("linear", "softmax", "deltanet")}


def test_attention_and_deltanet_recall_far_better_than_plain_linear_attention(cpu_results) -> None:
    for name, result in cpu_results.items():
        assert result.status == "ok", (name, result.error, result.stderr_tail[-1500:])
        assert METRICS <= set(result.metrics)
    recall = {name: r.metrics["mqar_recall"] for name, r in cpu_results.items()}
    assert recall["softmax"] > recall["linear"] + 0.4 and recall["deltanet"] > recall["linear"] + 0.4, recall
    assert cpu_results["deltanet"].metrics["mqar_accuracy_long"] > 0.8  # longer, twice the pairs: still recalled
    # DeltaNet is the fitness reference: it sits near the middle, the initial program below it
    assert 0.35 < cpu_results["deltanet"].score < 0.65
    assert cpu_results["linear"].score < cpu_results["deltanet"].score


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_reference_trains_and_scores(name: str) -> None:
    result = _evaluate(PROGRAMS[name])
    assert result.status == "ok", (result.error, result.stderr_tail[-1500:])
    assert METRICS <= set(result.metrics)
    assert 0 < result.score < 1
    assert result.metrics["causal_drift"] < 1e-3 and result.metrics["parameters"] > 10_000
    assert 0 < result.metrics["lm_loss"] < 5


def test_a_mixer_that_reads_the_future_only_after_training_is_invalid(tmp_path: Path) -> None:
    # causal while training (so the harness's own fail-fast check passes), then it peeks at the next token
    program = _candidate(tmp_path, """
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q, k, v = self.qkv(x)
            o = self.o_proj(chunk_linear_attention(q, k, v, self.chunk_size).transpose(1, 2).flatten(2))
            if self.training:
                return o
            return o + torch.roll(x, shifts=-1, dims=1)
    """)
    result = _evaluate(program)
    assert result.status == "invalid"
    assert "not causal" in result.error


def test_a_candidate_that_reaches_for_the_harness_is_refused_before_training(tmp_path: Path) -> None:
    # it would rewrite what the harness reports, from inside the harness's process
    program = _candidate(tmp_path, """
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            torch.sys.modules["__main__"].write_result = lambda data: None
            return self.o_proj(x)
    """)
    result = _evaluate(program)
    assert result.status == "invalid" and result.error.startswith("refused before training")
    assert "attribute .sys" in result.error and result.duration_s < 30


def test_a_non_causal_mixer_fails_fast_before_training(tmp_path: Path) -> None:
    program = _candidate(tmp_path, """
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.o_proj(x.flip(1).cumsum(1).flip(1) / x.shape[1])
    """)
    result = _evaluate(program)
    assert result.status == "failed" and "the mixer is not causal" in result.error
    assert result.duration_s < 60


@pytest.mark.parametrize(("block", "words"), [
    ("""
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.o_proj(x)[:, :, :-1]
    """, "the mixer returned"),
    ("""
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.o_proj(x) * float("nan")
    """, "not finite"),  # caught by the fail-fast check before a step is taken
])
def test_a_broken_mixer_fails_with_its_reason(tmp_path: Path, block: str, words: str) -> None:
    result = _evaluate(_candidate(tmp_path, block))
    assert result.status == "failed"
    assert words in result.error
