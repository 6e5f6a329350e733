"""Deterministic 'model' behaviour for loop tests on the tiny task: what a sensible model would answer.

Used as the `reply_fn` of the real OpenAI-compatible test server, so the whole client path runs.
"""

from __future__ import annotations

import re
from typing import Any

WHY = "The score peaks at X = 3 and X is below it."


def prompt_of(body: dict[str, Any]) -> str:
    parts = []
    for message in body.get("messages", []):
        content = message.get("content")
        parts.append(content if isinstance(content, str) else str(content))
    return "\n".join(parts)


def parent_x(prompt: str) -> str:
    """The X literal of the first program in the prompt (the parent comes first)."""
    return re.search(r"^X = (.+)$", prompt, re.M).group(1).strip()


def tiny_task_model(body: dict[str, Any], crash_first: bool = False, style: str = "labels") -> str:
    """Researcher: raise X by 0.5 (optionally crashing first); repair: restore a number; analyzer: a lesson.

    `style` is how the model writes its diff replies: "labels" (the format asked for), "tags" (the original
    ASI-Evolve format: <name>, <motivation>, then the blocks; <analysis>) or "bare" (the blocks alone).
    """
    prompt = prompt_of(body)
    if "SCORE: <a number" in prompt:  # the judge: rates every program 8 of 1..10
        return "SCORE: 8\nREASON: a sound, simple approach.\n"
    if "ANALYSIS:" in prompt and "INSIGHTS:" in prompt:
        if style == "tags":
            return "<analysis>Moving X towards 3 changes the score as expected.</analysis>\n"
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
        if style == "tags":
            return f"<name>set X to {new}</name><motivation>{WHY}</motivation>\n<code>\n{program}</code>"
        if style == "bare":
            return f"```python\n{program}```\n"
        return f"NAME: set X to {new}\nMOTIVATION:\n{WHY}\nSOURCES: parent\nPROGRAM:\n```python\n{program}```\n"
    blocks = f"<<<<<<< SEARCH\nX = {x}\n=======\nX = {new}\n>>>>>>> REPLACE\n"
    if style == "tags":
        return f"<name>set X to {new}</name>\n<motivation>{WHY}</motivation>\n{blocks}"
    if style == "bare":
        return blocks
    return f"NAME: set X to {new}\nMOTIVATION:\n{WHY}\nSOURCES: parent\nEDITS:\n{blocks}"
