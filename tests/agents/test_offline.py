"""The offline researcher's mutations on a realistic program, and the offline analyzer's report."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tokenize
from collections import Counter
from pathlib import Path

import pytest

from agents.strategies.analyzer_offline import OfflineAnalyzer
from agents.strategies.protocols import Outcome, Proposal, ResearchContext
from agents.strategies.researcher_offline import OfflineResearcher
from knowledge.records import Node
from tools.edits import apply_edits, check_harness

START, END = "# EVOLVE-BLOCK-START", "# EVOLVE-BLOCK-END"
HEAD = '''"""Circle packing: 26 circles in the unit square, maximise the sum of radii."""
import numpy as np

'''
TAIL = '''

def run_packing():
    """Fixed harness: the evaluator calls this."""
    centers, radii = construct_packing()
    return centers, radii, float(np.sum(radii))


if __name__ == "__main__":
    print(run_packing()[2])
'''
PLACE_RINGS = '''def place_rings(n=26, r_ring=0.3, offset=0.5):
    """A centre circle, an inner ring of 8 and an outer ring of 16."""
    centers = [[offset, offset]]
    for i in range(8):
        angle = 2 * np.pi * i / 8
        centers.append([offset + r_ring * np.cos(angle), offset + r_ring * np.sin(angle)])
    for i in range(16):
        angle = 2 * np.pi * i / 16 + 0.1  # staggered against the inner ring
        centers.append([offset + 0.45 * np.cos(angle), offset + 0.45 * np.sin(angle)])
    return np.clip(np.array(centers[:n]), 0.01, 0.99)
'''
INSPIRED_PLACE_RINGS = '''def place_rings(n=26, r_ring=0.28, offset=0.5):
    """Hexagonal-ish grid instead of rings."""
    xs = np.linspace(0.1, 0.9, 6)
    centers = [[x, y] for y in np.linspace(0.1, 0.9, 5) for x in xs]
    return np.clip(np.array(centers[:n]), 0.01, 0.99)
'''
REST = '''

def compute_radii(centers, shrink=0.97):
    n = len(centers)
    radii = np.minimum.reduce([centers[:, 0], centers[:, 1], 1 - centers[:, 0], 1 - centers[:, 1]])
    for i in range(n):
        for j in range(i + 1, n):
            d = np.linalg.norm(centers[i] - centers[j])
            if radii[i] + radii[j] > d:
                scale = d / (radii[i] + radii[j])
                radii[i] *= scale
                radii[j] *= scale
    radii = radii * shrink
    label = f"{n} circles, shrink 2.5"
    return radii


def construct_packing():
    centers = place_rings()
    radii = compute_radii(centers)
    return centers, radii
'''
PROGRAM = f"{HEAD}{START}\n{PLACE_RINGS}{REST}{END}\n{TAIL}"
INSPIRATION = PROGRAM.replace(PLACE_RINGS, INSPIRED_PLACE_RINGS)
SEEDS = [str(seed) for seed in range(200)]


def node(program: str, node_id: int, score: float | None = 0.5) -> Node:
    status = "ok" if score is not None else "failed"
    return Node(f"t{node_id}", 1, (), f"n{node_id}", "", program, "", {}, score, "", status, id=node_id)


def context(seed: str, program: str = PROGRAM, inspirations: tuple[Node, ...] = ()) -> ResearchContext:
    return ResearchContext("circle_packing", "pack circles", node(program, 3), inspirations, (), seed)


def kind(proposal: Proposal) -> str:
    first = proposal.name.split()[0]
    return {"perturb": "constant", "crossover": "crossover"}.get(first, "statement")


@pytest.fixture(scope="module")
def proposals() -> list[Proposal]:
    researcher = OfflineResearcher()
    inspirations = (node(INSPIRATION, 12, 0.7),)
    return [researcher.propose(context(seed, inspirations=inspirations)) for seed in SEEDS]


def test_every_proposal_applies_compiles_and_keeps_the_harness(proposals: list[Proposal]) -> None:
    for proposal in proposals:
        assert proposal.mode == "diff"
        child = apply_edits(PROGRAM, proposal.edit)
        assert child != PROGRAM
        compile(child, "<child>", "exec")
        assert check_harness(PROGRAM, child) is None
        assert child.startswith(HEAD + START + "\n") and child.endswith(END + "\n" + TAIL)


def test_a_proposal_carries_what_its_edit_yields_so_the_engineer_applies_it_once(
    proposals: list[Proposal], monkeypatch: pytest.MonkeyPatch
) -> None:
    import agents.engineer as engineer

    def applied_again(*args: object) -> str:
        raise AssertionError("the edit was applied a second time")

    monkeypatch.setattr(engineer, "apply_edits", applied_again)
    for proposal in proposals[:20]:
        assert proposal.program == apply_edits(PROGRAM, proposal.edit)
        assert engineer.build_candidate(PROGRAM, proposal) == proposal.program


def test_all_three_mutation_kinds_occur_and_seeds_differ(proposals: list[Proposal]) -> None:
    kinds = Counter(kind(p) for p in proposals)
    assert set(kinds) == {"constant", "crossover", "statement"}
    assert kinds["constant"] > kinds["crossover"] > 0
    assert len({p.edit for p in proposals}) > 100


def test_the_same_seed_gives_the_same_proposal() -> None:
    inspirations = (node(INSPIRATION, 12),)
    for seed in SEEDS[:40]:
        first = OfflineResearcher().propose(context(seed, inspirations=inspirations))
        assert OfflineResearcher().propose(context(seed, inspirations=inspirations)) == first


def test_proposals_do_not_depend_on_the_process_hash_seed(tmp_path: Path) -> None:
    script = tmp_path / "propose.py"
    script.write_text(
        "import json, sys\n"
        "from tests.agents.test_offline import INSPIRATION, context, node\n"
        "from agents.strategies.researcher_offline import OfflineResearcher\n"
        "r = OfflineResearcher(0.4, 0.3, 0.3)\n"
        "out = [r.propose(context(str(s), inspirations=(node(INSPIRATION, 12),))).edit for s in range(30)]\n"
        "json.dump(out, sys.stdout)\n"
    )
    root = Path(__file__).resolve().parents[2]
    runs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)}
        done = subprocess.run(
            [sys.executable, str(script)], env=env, cwd=root, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout))
    assert runs[0] == runs[1]


def test_constant_perturbation_changes_only_numbers_in_code(proposals: list[Proposal]) -> None:
    constants = [p for p in proposals if kind(p) == "constant"]
    assert constants
    for proposal in constants:
        before, after = _tokens(PROGRAM), _tokens(apply_edits(PROGRAM, proposal.edit))
        assert [t.type for t in before] == [t.type for t in after]
        changed = [(a, b) for a, b in zip(before, after, strict=True) if a.string != b.string]
        assert 1 <= len(changed) <= 3
        for old, new in changed:
            assert old.type == tokenize.NUMBER
            if old.string.isdigit():
                assert new.string.isdigit()  # ints stay non-negative ints
            else:
                assert float(new.string) != float(old.string)
    # numbers inside strings, comments and f-strings are never touched
    for proposal in constants:
        child = apply_edits(PROGRAM, proposal.edit)
        assert 'f"{n} circles, shrink 2.5"' in child and "# staggered against the inner ring" in child


def test_crossover_inserts_the_inspirations_function(proposals: list[Proposal]) -> None:
    crossovers = [p for p in proposals if kind(p) == "crossover"]
    assert crossovers
    for proposal in crossovers:
        assert proposal.name == "crossover place_rings from node 12"
        child = apply_edits(PROGRAM, proposal.edit)
        assert INSPIRED_PLACE_RINGS in child and PLACE_RINGS not in child
        assert child == INSPIRATION


def test_each_mutation_records_where_its_idea_came_from(proposals: list[Proposal]) -> None:
    """A crossover builds on the inspiration it copies from (experience); a perturbation or statement edit on
    nothing it was shown (novel). The offline researcher never reads cognition items, so it never cites one."""
    for proposal in proposals:
        source = proposal.provenance
        if kind(proposal) == "crossover":
            assert (source.source, source.node_ids, source.declared_by) == ("experience", (12,), "offline crossover")
        else:
            assert (source.source, source.node_ids) == ("novel", ())
            assert source.declared_by == f"offline {kind(proposal)}"
        assert source.cognition_ids == ()


def test_crossover_falls_back_to_constants_when_no_function_differs() -> None:
    researcher = OfflineResearcher(p_constant=0.0, p_crossover=1.0, p_statement=0.0)
    same = (node(PROGRAM, 12),)
    proposals = [researcher.propose(context(seed, inspirations=same)) for seed in SEEDS[:20]]
    assert {kind(p) for p in proposals} == {"constant"}


def test_statement_edits_name_the_lines_and_keep_the_program_valid() -> None:
    researcher = OfflineResearcher(p_constant=0.0, p_crossover=0.0, p_statement=1.0)
    names = []
    for seed in SEEDS[:60]:
        proposal = researcher.propose(context(seed))
        names.append(proposal.name.split()[0])
        assert proposal.name.split()[0] in {"delete", "duplicate", "swap"}
        compile(apply_edits(PROGRAM, proposal.edit), "<child>", "exec")
    assert set(names) == {"delete", "duplicate", "swap"}


def test_a_program_without_numbers_still_gets_a_valid_proposal() -> None:
    code = "def f(x):\n    y = x\n    z = y\n    return z\n"
    program = f"import math\n{START}\n{code}{END}\nprint(f(math.pi))\n"
    for seed in SEEDS[:20]:
        proposal = OfflineResearcher().propose(context(seed, program=program))
        assert kind(proposal) == "statement"
        assert check_harness(program, apply_edits(program, proposal.edit)) is None


def test_a_program_with_no_editable_code_is_a_clear_error() -> None:
    program = f"x = 1\n{START}\n\n{END}\ny = 2\n"
    with pytest.raises(ValueError, match="node 3 has no editable code inside its EVOLVE-BLOCK"):
        OfflineResearcher().propose(context("0", program=program))


def test_bad_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="mutation weights"):
        OfflineResearcher(0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="sigma"):
        OfflineResearcher(sigma=0.0)


# ------------------------------------------------------------------------------------------------ analyzer


def outcome(status: str, score: float | None, **extra: object) -> Outcome:
    proposal = Proposal("perturb r_ring", "Changed r_ring 0.3 -> 0.33 (line 5).", "edit")
    return Outcome(proposal, status, score, **extra)  # type: ignore[arg-type]


def test_analyzer_reports_signed_deltas_and_an_insight_on_improvement() -> None:
    result = OfflineAnalyzer().analyze(
        outcome(
            "ok", 0.55, metrics={"combined_score": 0.55, "sum_radii": 2.5},
            parent=node(PROGRAM, 4, 0.5377), best=node(PROGRAM, 9, 0.6),
        )
    )
    assert "perturb r_ring: status ok, score 0.55" in result.text
    assert "+0.0123 vs parent (node 4), -0.05 vs best (node 9)" in result.text
    assert "metrics: sum_radii=2.5" in result.text
    assert result.insights == (
        "perturb r_ring: Changed r_ring 0.3 -> 0.33 (line 5); improved score by 0.0123 over node 4",
    )


def test_analyzer_gives_no_insight_without_improvement() -> None:
    result = OfflineAnalyzer().analyze(outcome("ok", 0.5, parent=node(PROGRAM, 4, 0.6)))
    assert "-0.1 vs parent (node 4)" in result.text
    assert result.insights == ()
    assert OfflineAnalyzer().analyze(outcome("ok", 0.7)).insights == ()  # no parent to compare with


def test_analyzer_reports_the_failure_and_the_last_stderr_lines() -> None:
    stderr = "\n".join(["Traceback (most recent call last):", *(f"  frame {i}" for i in range(6)), "",
                        "ZeroDivisionError: division by zero", ""])
    result = OfflineAnalyzer().analyze(
        outcome("failed", None, error="ZeroDivisionError: division by zero", stderr_tail=stderr,
                parent=node(PROGRAM, 4, 0.5))
    )
    lines = result.text.split("\n")
    assert lines[0] == "perturb r_ring: status failed, score n/a"
    assert "failure: failed: ZeroDivisionError: division by zero" in lines
    tail = lines[lines.index("stderr (last lines):") + 1 :]
    assert tail == [*(f"    frame {i}" for i in range(2, 6)), "  ZeroDivisionError: division by zero"]
    assert "vs parent" not in result.text and result.insights == ()


def _tokens(program: str) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(program).readline))


def test_axis_and_shape_arguments_are_not_perturbed() -> None:
    from agents.strategies.researcher_offline_scan import literals, region_lines

    program = "\n".join([
        "import torch",
        "# EVOLVE-BLOCK-START",
        "SCALE = 0.5",
        "def f(x):",
        "    assert x.shape[-1] % 2 == 0",
        "    y = x.sum(dim=1, keepdim=True) * 3",
        "    z = torch.nn.functional.pad(x.transpose(-1, -2), (0, 0, 1, 0)).reshape(2, -1)",
        "    w = torch.softmax(z / 8, -1)",
        "    return torch.cat([y, z.unsqueeze(0)], 1).mean(2) + sum(x, 7) + 4 * SCALE",
        "# EVOLVE-BLOCK-END",
    ])
    found = [(lit.line, lit.text) for lit in literals(program, region_lines(program))]
    # a number inside an argument expression (the softmax temperature) and builtin sum's start stay knobs
    assert found == [(2, "0.5"), (5, "3"), (7, "8"), (8, "7"), (8, "4")]
