"""Offline (no-model) Researcher: real code mutations on the same edit path as a model's.

Why: the loop must run on a fresh machine with no API key and still make progress on real tasks. Every
mutation is emitted as SEARCH/REPLACE text and checked with `tools.edits.apply_edits` before it is proposed,
so the offline mode exercises exactly the path model edits take. All randomness comes from
`random.Random(ctx.seed)`: the same context always yields the same proposal (reproducible runs).
"""

from __future__ import annotations

import difflib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agents.strategies import researcher_offline_scan as scan
from agents.strategies.protocols import Proposal, ResearchContext
from knowledge.records import Node, Provenance
from tools.edits import EditError, SearchReplace, apply_edits, format_edits

_ATTEMPTS = 8  # tries per mutation kind before falling back to the next kind
# a random perturbation or statement edit draws on no item and no other node: its idea is the mutation's own
_NOVEL_CONSTANT = Provenance("novel", declared_by="offline constant")
_NOVEL_STATEMENT = Provenance("novel", declared_by="offline statement")
_FALLBACKS = {
    "constant": ("constant", "statement", "crossover"),
    "crossover": ("crossover", "constant", "statement"),
    "statement": ("statement", "constant", "crossover"),
}


@dataclass(frozen=True)
class _LineEdit:
    """Parent lines [start, end) (0-based) become `new`."""

    start: int
    end: int
    new: tuple[str, ...]


@dataclass(frozen=True)
class _Mutation:
    name: str
    motivation: str
    edits: tuple[_LineEdit, ...]
    provenance: Provenance


class OfflineResearcher:
    """Proposes constant perturbations, crossovers of functions, or statement edits inside EVOLVE-BLOCKs.

    Args:
        p_constant, p_crossover, p_statement: relative weights of the three mutation kinds; a kind that finds
            nothing to do falls back to the others.
        sigma: spread of float perturbations (multiplied by exp(N(0, sigma))).
    """

    def __init__(
        self, p_constant: float = 0.7, p_crossover: float = 0.2, p_statement: float = 0.1, sigma: float = 0.15
    ) -> None:
        weights = (p_constant, p_crossover, p_statement)
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"mutation weights must be >= 0 with a positive sum, got {weights}")
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self.weights = weights
        self.sigma = sigma

    def propose(self, ctx: ResearchContext) -> Proposal:
        rng = random.Random(ctx.seed)
        program = ctx.parent.program
        lines = program.split("\n")
        regions = scan.region_lines(program)
        if not any(line.strip() for lo, hi in regions for line in lines[lo:hi]):
            raise ValueError(f"node {ctx.parent.id} has no editable code inside its EVOLVE-BLOCK")
        must_compile = scan.compiles(program)
        strategies: dict[str, Callable[[random.Random], _Mutation | None]] = {
            "constant": lambda r: self._perturb_constants(program, lines, regions, r),
            "crossover": lambda r: _crossover(program, lines, regions, ctx.inspirations, r),
            "statement": lambda r: _edit_statement(program, lines, regions, r),
        }
        first = rng.choices(list(_FALLBACKS), weights=self.weights)[0]
        for kind in _FALLBACKS[first]:
            for _ in range(_ATTEMPTS):
                mutation = strategies[kind](rng)
                if mutation is None:
                    break  # nothing of this kind exists in the program
                proposal = _materialize(program, mutation, must_compile)
                if proposal is not None:
                    return proposal
        raise ValueError(
            f"offline researcher found nothing to mutate in node {ctx.parent.id}'s EVOLVE-BLOCK "
            "(no numeric literal, no function to cross over, no simple statement)"
        )

    def _perturb_constants(
        self, program: str, lines: list[str], regions: list[tuple[int, int]], rng: random.Random
    ) -> _Mutation | None:
        literals = scan.literals(program, regions)
        if not literals:
            return None
        count = min(rng.choice((1, 1, 1, 2, 2, 3)), len(literals))
        chosen = sorted(rng.sample(literals, count), key=lambda lit: (lit.line, lit.col))
        changes = [(lit, _perturb(lit.text, rng, self.sigma)) for lit in chosen]
        new_lines: dict[int, str] = {}
        for lit, value in reversed(changes):  # right to left, so columns on a shared line stay valid
            line = new_lines.get(lit.line, lines[lit.line])
            new_lines[lit.line] = line[: lit.col] + value + line[lit.end_col :]
        edits = tuple(_LineEdit(i, i + 1, (text,)) for i, text in sorted(new_lines.items()))
        labels = list(dict.fromkeys(lit.label for lit in chosen))
        described = ", ".join(f"{lit.label} {lit.text} -> {v} (line {lit.line + 1})" for lit, v in changes)
        return _Mutation(
            name="perturb " + ", ".join(labels),
            motivation=f"Changed {described}. A small step around the parent's values tests whether its "
            "score sits at a local optimum in these parameters.",
            edits=edits,
            provenance=_NOVEL_CONSTANT,
        )


# ------------------------------------------------------------------------------------------ mutation kinds


def _crossover(
    program: str, lines: list[str], regions: list[tuple[int, int]], inspirations: Sequence[Node],
    rng: random.Random,
) -> _Mutation | None:
    """Replace one of the parent's top-level functions by a differing same-named one from an inspiration."""
    ours = scan.top_functions(program, regions)
    options: list[tuple[Node, str, tuple[str, ...]]] = []
    for node in inspirations:
        theirs = node.program.split("\n")
        theirs_functions = scan.top_functions(node.program, scan.region_lines(node.program, strict=False))
        for name, (start, end) in theirs_functions.items():
            new = tuple(theirs[start:end])
            if name in ours and tuple(lines[slice(*ours[name])]) != new:
                options.append((node, name, new))
    if not options:
        return None
    node, name, new = rng.choice(options)
    start, end = ours[name]
    old = lines[start:end]
    changed = sum(
        max(i2 - i1, j2 - j1)
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new).get_opcodes()
        if tag != "equal"
    )
    # Only the differing middle is edited (the result is the same whole function), so the diff stays readable.
    head = 0
    while head < min(len(old), len(new)) - 1 and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < min(len(old), len(new)) - head - 1 and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    score = "" if node.score is None else f" (score {node.score:.6g})"
    return _Mutation(
        name=f"crossover {name} from node {node.id}",
        motivation=f"Replaced {name}() (lines {start + 1}-{end}) with the version from node {node.id}"
        f"{score}, which differs in {changed} line{'s' if changed != 1 else ''}; it may carry over what "
        "worked there while keeping this parent's other functions.",
        edits=(_LineEdit(start + head, end - tail, new[head : len(new) - tail]),),
        provenance=Provenance("experience", node_ids=(node.id,), declared_by="offline crossover"),
    )


def _edit_statement(
    program: str, lines: list[str], regions: list[tuple[int, int]], rng: random.Random
) -> _Mutation | None:
    """Delete, duplicate, or swap with its next sibling one single-line simple statement."""
    sites = scan.simple_statements(program, lines, regions)
    if not sites:
        return None
    body, index = rng.choice(sites)
    simple = {(id(b), i) for b, i in sites}
    stmt = body[index]
    line = stmt.lineno - 1
    code = lines[line].strip()
    op = rng.choice(("delete", "duplicate", "swap"))
    if op == "swap" and index + 1 < len(body) and (id(body), index + 1) in simple:
        other = body[index + 1].lineno - 1
        if lines[other].strip() != code and scan.same_region(regions, line, other):
            between = tuple(lines[line + 1 : other])
            return _Mutation(
                name=f"swap statements L{line + 1}-{other + 1}",
                motivation=f"Swapped `{code}` (line {line + 1}) with `{lines[other].strip()}` "
                f"(line {other + 1}); the order of these statements may change the result.",
                edits=(_LineEdit(line, other + 1, (lines[other], *between, lines[line])),),
                provenance=_NOVEL_STATEMENT,
            )
    if op != "delete" and not isinstance(stmt, scan.NO_DUPLICATE):
        return _Mutation(
            name=f"duplicate statement L{line + 1}",
            motivation=f"Duplicated `{code}` (line {line + 1}) so its effect is applied twice.",
            edits=(_LineEdit(line, line + 1, (lines[line], lines[line])),),
            provenance=_NOVEL_STATEMENT,
        )
    if len(body) > 1:
        return _Mutation(
            name=f"delete statement L{line + 1}",
            motivation=f"Deleted `{code}` (line {line + 1}) to test whether it still pays for itself.",
            edits=(_LineEdit(line, line + 1, ()),),
            provenance=_NOVEL_STATEMENT,
        )
    return _Mutation(  # the only statement of its block: duplicating is the one edit that keeps it valid
        name=f"duplicate statement L{line + 1}",
        motivation=f"Duplicated `{code}` (line {line + 1}) so its effect is applied twice.",
        edits=(_LineEdit(line, line + 1, (lines[line], lines[line])),),
        provenance=_NOVEL_STATEMENT,
    )


# --------------------------------------------------------------------------------------- turning into edits


def _materialize(program: str, mutation: _Mutation, must_compile: bool) -> Proposal | None:
    """The mutation as a Proposal whose edit `apply_edits` accepts and yields exactly the intended program."""
    lines = program.split("\n")
    blocks = []
    for edit in sorted(mutation.edits, key=lambda e: e.start, reverse=True):  # bottom-up: indices stay valid
        blocks.append(_unique_block(lines, edit))
        lines[edit.start : edit.end] = edit.new
    expected = "\n".join(lines)
    try:
        text = format_edits(blocks)
        result = apply_edits(program, text)
    except EditError:
        return None
    if result != expected or result == program or (must_compile and not scan.compiles(result)):
        return None
    return Proposal(name=mutation.name, motivation=mutation.motivation, edit=text, mode="diff", program=result,
                    provenance=mutation.provenance)


def _unique_block(lines: list[str], edit: _LineEdit) -> SearchReplace:
    """SEARCH = the changed lines plus as much context (inside their region) as makes it unique."""
    text = "\n".join(lines)
    regions = scan.region_lines(text)
    lo, hi = next(((a, b) for a, b in regions if a <= edit.start and edit.end <= b), (0, len(lines)))
    start, end = edit.start, edit.end
    while True:
        search = "\n".join(lines[start:end])
        if (search.strip() and scan.occurs_once(text, search)) or (start <= lo and end >= hi):
            break
        if end < hi and (start <= lo or end - edit.end <= edit.start - start):
            end += 1
        else:
            start -= 1
    replace = "\n".join([*lines[start : edit.start], *edit.new, *lines[edit.end : end]])
    return SearchReplace(search, replace)


# ---------------------------------------------------------------------------------------- reading programs


def _perturb(literal: str, rng: random.Random, sigma: float) -> str:
    """A nearby value: ints move by at least 1 and stay >= 0; floats scale by exp(N(0, sigma))."""
    if scan.kind(literal) == "int":
        value = int(literal.replace("_", ""))
        step = max(1, round(abs(value) * sigma * abs(rng.gauss(0.0, 1.0))))
        new = value + rng.choice((-1, 1)) * step
        return str(new if new >= 0 else value + step)
    value = float(literal.replace("_", ""))
    for _ in range(_ATTEMPTS):
        new = value + rng.gauss(0.0, sigma) if abs(value) < 1e-9 else value * math.exp(rng.gauss(0.0, sigma))
        text = f"{new:.6g}"
        if math.isfinite(new) and float(text) != value:
            return text if any(c in text for c in ".e") else text + ".0"
    return repr(value * 1.1 if value else 0.1)
