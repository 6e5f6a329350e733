"""Answer checking robust to formatting: "57", " 057", "Answer: 57", "\\boxed{57}", "1,000", "57.0" and LaTeX.

Standalone: the training harness uses it for rewards inside the jail, the trusted evaluator for accuracy.
Plain numbers are compared numerically (fast: the reward of every sampled answer); anything else goes to
math-verify, which parses LaTeX and compares expressions symbolically.
"""

from __future__ import annotations

import re
from fractions import Fraction

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def final_number(text: str) -> Fraction | None:
    """The answer a text ends with: a boxed value if there is one, else its last number."""
    boxed = _BOXED.findall(text)
    source = boxed[-1] if boxed else text
    found = _NUMBER.findall(source)
    if not found:
        return None
    try:
        return Fraction(found[-1].replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def is_correct(text: str, gold: str | int | float) -> bool:
    """Whether `text` answers `gold`."""
    gold_text = str(gold).strip()
    try:
        wanted = Fraction(gold_text.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        wanted = None
    if wanted is not None:
        got = final_number(text)
        return got is not None and got == wanted
    from math_verify import parse, verify  # LaTeX answers (MATH-500): slower, only where needed

    try:
        return bool(verify(parse(f"${gold_text}$"), parse(text)))
    except Exception:  # noqa: BLE001 - an unparsable answer is a wrong answer
        return False
