"""The budget of one invocation, in both its forms: the graph's input (Studio's input form) and a record.

Why apart: the CLI reads these descriptions for its options without loading LangGraph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict  # pydantic (Studio's schemas) needs it on Python < 3.12

INITIAL_INVALID = "the initial program is not valid"  # the stop that is no spent budget: nothing to evolve from


class LoopInput(TypedDict, total=False):
    """The budget of one invocation: what Studio's input form and `graph.invoke` set.

    The loop stops after `max_steps` evolution trials in all (the initial program's evaluation is not counted),
    `max_wall_s` seconds after this invocation started, or once a node reaches `target_score`.
    """

    max_steps: Annotated[int, Field(description="Evolution steps in all (default: the task's).", ge=1)]
    max_wall_s: Annotated[float | None, Field(description="Wall-clock budget of this invocation in seconds.", ge=1)]
    target_score: Annotated[float | None, Field(description="Stop once a node reaches this score.")]
    lane: Annotated[int, Field(description="This thread's asynchronous lane, of the run's lanes (0 for one).", ge=0)]


@dataclass(frozen=True)
class Budget:
    """The budget of one invocation: evolution steps in all, wall-clock seconds, and a score to stop at."""

    max_steps: int
    max_wall_s: float | None = None
    target_score: float | None = None

    def as_input(self) -> dict[str, Any]:
        return {"max_steps": self.max_steps, "max_wall_s": self.max_wall_s, "target_score": self.target_score}
