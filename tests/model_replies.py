"""Deterministic 'model' behaviour for loop tests on the tiny task: what a sensible model would answer.

Used as the `reply_fn` of the real OpenAI-compatible test server, so the whole client path runs.
"""

from __future__ import annotations

import re
from typing import Any


def prompt_of(body: dict[str, Any]) -> str:
    parts = []
    for message in body.get("messages", []):
        content = message.get("content")
        parts.append(content if isinstance(content, str) else str(content))
    return "\n".join(parts)


def parent_x(prompt: str) -> str:
    """The X literal of the first program in the prompt (the parent comes first)."""
    return re.search(r"^X = (.+)$", prompt, re.M).group(1).strip()


def tiny_task_model(body: dict[str, Any], crash_first: bool = False) -> str:
    """Researcher: raise X by 0.5 (optionally crashing first); repair: restore a number; analyzer: a lesson."""
    prompt = prompt_of(body)
    if "SCORE: <a number" in prompt:  # the judge: rates every program 8 of 1..10
        return "SCORE: 8\nREASON: a sound, simple approach.\n"
    if "ANALYSIS:" in prompt and "INSIGHTS:" in prompt:
        return (
            "ANALYSIS:\nMoving X towards 3 changes the score as expected.\n"
            "INSIGHTS:\n- X closer to 3 scores higher\n"
        )
    x = parent_x(prompt)
    if "1 / 0" in prompt:  # the repair prompt shows the crashed program
        return (
            "NAME: undo the division\nMOTIVATION:\nX = 1 / 0 raises ZeroDivisionError; use a number.\nEDITS:\n"
            "<<<<<<< SEARCH\nX = 1 / 0\n=======\nX = 2.0\n>>>>>>> REPLACE\n"
        )
    new = "1 / 0" if crash_first else repr(float(x) + 0.5)
    if "PROGRAM:\n```python" in prompt:  # rewrite mode: the whole parent program with the new X
        parent = re.search(r"```python\n(.*?)```", prompt, re.S).group(1)
        program = re.sub(r"^X = .+$", f"X = {new}", parent, count=1, flags=re.M)
        return (
            f"NAME: set X to {new}\nMOTIVATION:\nThe score peaks at X = 3 and X is below it.\n"
            f"PROGRAM:\n```python\n{program}```\n"
        )
    return (
        f"NAME: set X to {new}\nMOTIVATION:\nThe score peaks at X = 3 and X is below it.\nEDITS:\n"
        f"<<<<<<< SEARCH\nX = {x}\n=======\nX = {new}\n>>>>>>> REPLACE\n"
    )
