"""`ast.parse` that parallel trials can call at once.

CPython 3.11 keeps the AST constructor's recursion depth in the interpreter, not the thread: when two threads
build syntax trees together and a garbage collection runs a finalizer in the middle of one (which lets the other
thread run), one of them raises `SystemError: AST constructor recursion depth mismatch`. Parallel trials parse
programs in threads (the offline researcher, the candidate policy, the evaluator check), so every parse the
controller makes goes through this one lock; a parse takes well under a millisecond.
"""

from __future__ import annotations

import ast
import threading

_PARSING = threading.Lock()  # process-wide by nature: the state it guards is the interpreter's


def parse(source: str | bytes, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse(source, filename)`, one thread at a time. Raises SyntaxError and ValueError as it does."""
    with _PARSING:
        return ast.parse(source, filename)
