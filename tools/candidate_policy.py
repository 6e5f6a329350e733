"""A static policy for candidates that run in the same process as a task's training harness.

Why: the jail keeps a candidate away from the host, the evaluator and the held-out answers, but a training
harness has to import the candidate, so candidate code shares the harness's interpreter and could rewrite what
the harness reports (patch `__main__`, reach `sys.modules`, walk frames or autograd graphs to the weights).
This scan refuses the ways of doing so that ordinary model code never needs, so such a candidate is rejected
with its reason before anything runs. It is defence in depth, not a proof: the jail remains the real boundary.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from tools import pyast

# builtins that reach around the language: introspection, dynamic code, files
BANNED_CALLS = frozenset({"eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "globals", "locals",
                          "vars", "__import__", "breakpoint", "input", "memoryview", "exit", "quit"})
# attributes that lead out of the candidate's own tensors and modules: the interpreter, files, other frames,
# the autograd graph (and through it the optimiser's parameters), raw storage, native extensions
BANNED_ATTRIBUTES = frozenset({
    "sys", "os", "modules", "builtins", "_C", "ops", "classes", "cpp_extension", "load_inline", "hub",
    "multiprocessing", "distributed", "serialization", "save", "load", "f_globals", "f_locals", "f_back",
    "f_builtins", "gi_frame", "cr_frame", "tb_frame", "grad_fn", "next_functions", "variable", "storage",
    "untyped_storage", "data_ptr", "set_", "_base", "register_hook", "register_forward_hook",
    "register_forward_pre_hook", "register_full_backward_hook",
})
ALLOWED_DUNDERS = frozenset({"__init__", "__name__", "__doc__"})
BANNED_WORDS = ("asi_harness", "__main__", "evaluator", "asi_evolve", "/proc")


def policy_findings(source: str, allowed_modules: Iterable[str]) -> list[str]:
    """What in `source` the policy refuses, one short reason each (empty: allowed); a syntax error is one too.

    `allowed_modules`: the top-level modules the candidate may import (e.g. torch, math)."""
    try:
        tree = pyast.parse(source)
    except SyntaxError as exc:
        return [f"syntax error on line {exc.lineno}: {exc.msg}"]
    allowed = frozenset(allowed_modules)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or "."]
            if isinstance(node, ast.ImportFrom) and node.level:
                names = ["." * node.level + (node.module or "")]
            for name in names:
                if name.split(".")[0] not in allowed:
                    found.append((line, f"line {line}: import of {name} (allowed: {', '.join(sorted(allowed))})"))
        elif isinstance(node, ast.Name) and node.id in BANNED_CALLS | {"__builtins__"}:
            found.append((line, f"line {line}: use of {node.id}"))
        elif isinstance(node, ast.Attribute):
            dunder = node.attr.startswith("__") and node.attr.endswith("__")
            if node.attr in BANNED_ATTRIBUTES or (dunder and node.attr not in ALLOWED_DUNDERS):
                found.append((line, f"line {line}: attribute .{node.attr}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            hit = next((word for word in BANNED_WORDS if word in node.value), None)
            if hit:
                found.append((line, f"line {line}: string naming {hit}"))
    return list(dict.fromkeys(text for _, text in sorted(found)))


def policy_error(source: str, allowed_modules: Iterable[str]) -> str:
    """One line for a refused candidate ('' when it is allowed), naming the first few findings."""
    findings = policy_findings(source, allowed_modules)
    if not findings:
        return ""
    more = f" (+{len(findings) - 3} more)" if len(findings) > 3 else ""
    return "refused before training (the harness shares its process with the candidate): " + \
        "; ".join(findings[:3]) + more
