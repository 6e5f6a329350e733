"""MAP-Elites: a grid over behaviour features holding the best node per cell, sampled cell by cell.

Features: "program_length" (characters), "edit_distance" (1 - difflib ratio of the program's lines to the
reference = the first observed node's program; line level because character level costs ~20 ms per 5 KB
program) and "metric:<name>" (a numeric evaluator metric; nodes without it stay out of the grid). Ranges adapt:
a value outside the known range widens it and re-bins the elites, keeping the best per cell.
"""

from __future__ import annotations

import bisect
import difflib
import itertools
import math
import random
from collections.abc import Sequence
from numbers import Real
from typing import Any, NamedTuple

from knowledge.records import Node
from knowledge.samplers.base import BaseSampler, Pick, is_scored

FIXED_FEATURES = ("program_length", "edit_distance")
METRIC_PREFIX = "metric:"
SELECTIONS = ("uniform", "curiosity")
CURIOSITY_START, CURIOSITY_GAIN, CURIOSITY_LOSS, CURIOSITY_FLOOR = 1.0, 1.0, 0.5, 0.1

Cell = tuple[int, ...]


class Elite(NamedTuple):
    node_id: int
    score: float
    values: tuple[float, ...]


def _check_features(features: Any) -> tuple[str, ...]:
    if isinstance(features, str) or not features or not all(isinstance(f, str) for f in features):
        raise ValueError(f"map_elites features must be a non-empty list of names, got {features!r}")
    for name in features:
        if name not in FIXED_FEATURES and not (name.startswith(METRIC_PREFIX) and len(name) > len(METRIC_PREFIX)):
            valid = ", ".join((*FIXED_FEATURES, "metric:<name>"))
            raise ValueError(f"unknown map_elites feature {name!r}; valid: {valid}")
    if len(set(features)) != len(features):
        raise ValueError(f"map_elites features repeat a name: {list(features)}")
    return tuple(features)


def _check_bins(bins: Any, dims: int) -> tuple[int, ...]:
    values = [bins] * dims if isinstance(bins, int) else list(bins) if isinstance(bins, list | tuple) else None
    if values is None or len(values) != dims or not all(isinstance(b, int) and b >= 1 for b in values):
        raise ValueError(f"map_elites bins must be an int >= 1 or a list of {dims} such ints, got {bins!r}")
    return tuple(values)


class MapElitesSampler(BaseSampler):
    """One elite per cell, replaced only by a strictly better node; sampling picks a cell, then its elite.

    selection "uniform": every occupied cell alike. "curiosity": cells weighted by how productive their elite
    was: +1 each time a child of it entered the archive, -0.5 each time one did not, never below 0.1.
    """

    name = "map_elites"

    def __init__(
        self, features: Sequence[str] = FIXED_FEATURES, bins: int | Sequence[int] = 10, selection: str = "uniform"
    ) -> None:
        super().__init__()
        self.features = _check_features(features)
        self.bins = _check_bins(bins, len(self.features))
        if selection not in SELECTIONS:
            raise ValueError(f"unknown map_elites selection {selection!r}; valid: {', '.join(SELECTIONS)}")
        self.selection = selection
        self._ranges: list[tuple[float, float] | None] = [None] * len(self.features)
        self._reference: str | None = None  # the first observed program, what edit_distance measures from
        self._matcher = difflib.SequenceMatcher[str](None, autojunk=False)
        self._elites: dict[Cell, Elite] = {}
        self._weights: dict[Cell, float] = {}
        self._cell_of: dict[int, Cell] = {}
        self._cells: list[Cell] | None = None  # sorted occupied cells, rebuilt lazily

    def params(self) -> dict[str, Any]:
        return {"features": list(self.features), "bins": list(self.bins), "selection": self.selection}

    # -- inspection ----------------------------------------------------------------------------------------

    def archive(self) -> dict[Cell, int]:
        """Occupied cell -> elite node id."""
        return {cell: e.node_id for cell, e in sorted(self._elites.items())}

    def weight(self, cell: Cell) -> float:
        return self._weights[cell]

    def ranges(self) -> list[tuple[float, float] | None]:
        return list(self._ranges)

    def describe(self, node: Node) -> tuple[float, ...] | None:
        """Feature values of a node; None when a metric feature is missing or not a finite number."""
        values = []
        for name in self.features:
            if name == "program_length":
                values.append(float(len(node.program)))
            elif name == "edit_distance":
                values.append(self._edit_distance(node.program))
            else:
                value = node.metrics.get(name[len(METRIC_PREFIX) :])
                if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                    return None
                values.append(float(value))
        return tuple(values)

    def _edit_distance(self, program: str) -> float:
        if self._reference is None:
            raise ValueError("edit_distance needs a reference program: observe the first node first")
        self._matcher.set_seq1(program.splitlines())
        return 1.0 - self._matcher.ratio()

    def _set_reference(self, program: str) -> None:
        self._reference = program
        self._matcher.set_seq2(program.splitlines())

    def cell_of(self, values: tuple[float, ...]) -> Cell:
        """Grid cell of feature values under the current ranges (values outside clamp to the edge cells)."""
        cell = []
        for value, bins, span in zip(values, self.bins, self._ranges, strict=True):
            low, high = span if span is not None else (value, value)
            index = int((value - low) / (high - low) * bins) if high > low else 0
            cell.append(min(bins - 1, max(0, index)))
        return tuple(cell)

    # -- observing -----------------------------------------------------------------------------------------

    def _observe(self, node: Node) -> None:
        if self._reference is None:
            self._set_reference(node.program)
        entered, replaced = False, None
        values = self.describe(node) if is_scored(node) else None
        if values is not None:
            entered, replaced = self._insert(Elite(node.id, float(node.score), values))  # type: ignore[arg-type]
        if node.parent_ids:
            parent = node.parent_ids[0]
            cell = self._cell_of.get(parent)
            if cell is None and replaced == parent:
                cell = self._cell_of[node.id]
            if cell is not None:
                change = CURIOSITY_GAIN if entered else -CURIOSITY_LOSS
                self._weights[cell] = max(CURIOSITY_FLOOR, self._weights[cell] + change)

    def _insert(self, elite: Elite) -> tuple[bool, int | None]:
        """Place a node; returns (entered the archive, id of the elite it replaced)."""
        widened = False
        for d, value in enumerate(elite.values):
            span = self._ranges[d]
            if span is None:
                self._ranges[d] = (value, value)
            elif value < span[0] or value > span[1]:
                self._ranges[d] = (min(span[0], value), max(span[1], value))
                widened = True
        if widened:
            self._rebin()
        cell = self.cell_of(elite.values)
        current = self._elites.get(cell)
        if current is not None and not elite.score > current.score:
            return False, None
        if current is None:
            self._weights[cell] = CURIOSITY_START
            self._cells = None
        else:
            del self._cell_of[current.node_id]
        self._elites[cell] = elite
        self._cell_of[elite.node_id] = cell
        return True, None if current is None else current.node_id

    def _rebin(self) -> None:
        """Re-place every elite under the new ranges; where elites collide the best stays, with its weight."""
        elites: dict[Cell, Elite] = {}
        weights: dict[Cell, float] = {}
        for old_cell, elite in self._elites.items():
            cell = self.cell_of(elite.values)
            other = elites.get(cell)
            if other is None or (elite.score, -elite.node_id) > (other.score, -other.node_id):
                elites[cell], weights[cell] = elite, self._weights[old_cell]
        self._elites, self._weights = elites, weights
        self._cell_of = {e.node_id: cell for cell, e in elites.items()}
        self._cells = None

    # -- sampling ------------------------------------------------------------------------------------------

    def _sample(self, k: int, rng: random.Random, generation: int) -> list[Pick]:
        if not self._elites:  # scored nodes exist but none has every feature: fall back to the best
            return [Pick(self._pool.best())] * k  # type: ignore[arg-type]
        if self._cells is None:
            self._cells = sorted(self._elites)
        cells = self._cells
        if self.selection == "uniform":
            return [Pick(self._elites[cells[rng.randrange(len(cells))]].node_id) for _ in range(k)]
        cumulative = list(itertools.accumulate(self._weights[c] for c in cells))
        picks = []
        for _ in range(k):
            at = min(len(cells) - 1, bisect.bisect_right(cumulative, rng.random() * cumulative[-1]))
            picks.append(Pick(self._elites[cells[at]].node_id))
        return picks

    # -- persistence ---------------------------------------------------------------------------------------

    def _extra_state(self) -> dict[str, Any]:
        return {
            "ranges": [None if s is None else list(s) for s in self._ranges],
            "reference": self._reference,
            "elites": [
                [list(cell), e.node_id, e.score, list(e.values), self._weights[cell]]
                for cell, e in sorted(self._elites.items())
            ],
        }

    def _load_extra(self, state: dict[str, Any]) -> None:
        ranges = state["ranges"]
        if len(ranges) != len(self.features):
            raise ValueError(f"{len(ranges)} ranges for {len(self.features)} features")
        self._ranges = [None if s is None else (float(s[0]), float(s[1])) for s in ranges]
        if state["reference"] is not None:
            self._set_reference(str(state["reference"]))
        for cell_list, node_id, score, values, weight in state["elites"]:
            cell = tuple(int(c) for c in cell_list)
            self._elites[cell] = Elite(int(node_id), float(score), tuple(float(v) for v in values))
            self._weights[cell] = float(weight)
            self._cell_of[int(node_id)] = cell
