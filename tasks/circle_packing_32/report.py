"""The run report's figures for circle_packing_32: those of circle_packing, whose program and evaluator it shares."""

from __future__ import annotations

from tasks.circle_packing.report import figures

__all__ = ["figures"]
