"""The tiny task's parent node and scripted researcher replies to it: a good diff, one editing the harness."""

from __future__ import annotations

from knowledge.records import Node
from tests.support.tiny_task import TINY_PROGRAM

PARENT = Node(
    trial_key="g1.0", generation=1, parent_ids=(), name="baseline", motivation="the initial program",
    program=TINY_PROGRAM, edit="", metrics={"combined_score": -4.0, "x": 1.0}, score=-4.0,
    analysis="X=1 is 2 away from the optimum.", status="ok", id=7,
)


def diff_reply(search: str, replace: str, name: str = "move X up") -> str:
    return (
        f"**NAME:** {name}\n\nMOTIVATION:\nThe optimum is at 3.\n\nEDITS:\n```python\n<<<<<<< SEARCH\n{search}\n"
        f"=======\n{replace}\n>>>>>>> REPLACE\n```\n"
    )


GOOD = diff_reply("X = 1.0", "X = 2.5")
OUTSIDE = diff_reply("    print(value())", "    print(value() + 1)")
