"""Reading a program for the offline researcher: editable lines, numeric literals, functions, statements.

Why separate: these are pure readers of program text (tokenize/ast) with no randomness, shared by the mutation
kinds in `agents.strategies.researcher_offline` and testable on their own.
"""

from __future__ import annotations

import ast
import io
import keyword
import tokenize
from dataclasses import dataclass

from tools import pyast
from tools.edits import EditError, evolve_regions

COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While,
             ast.With, ast.AsyncWith, ast.Try, ast.TryStar, ast.Match)
NO_DUPLICATE = (ast.Return, ast.Pass, ast.Break, ast.Continue, ast.Raise, ast.Import, ast.ImportFrom,
                 ast.Global, ast.Nonlocal)


@dataclass(frozen=True)
class Literal:
    line: int  # 0-based
    col: int
    end_col: int
    text: str
    label: str  # the name the literal sets or belongs to, for the proposal's name


def region_lines(program: str, strict: bool = True) -> list[tuple[int, int]]:
    """EVOLVE regions as [first, end) line indices of `program.split("\\n")`."""
    try:
        regions = evolve_regions(program)
    except EditError:
        if strict:
            raise
        return []
    out = []
    for start, end in regions:
        last = program.count("\n", 0, end)
        if end == len(program) and program and not program.endswith("\n"):
            last += 1  # the file's final line has no newline but is still a line
        out.append((program.count("\n", 0, start), last))
    return out


# Calls whose integer arguments are axes or shapes (numpy, torch): shifting one mostly breaks shapes
# instead of tuning anything, like an index. Keyword arguments with these names are axes wherever they appear.
AXIS_CALLS = frozenset({
    "sum", "mean", "std", "var", "prod", "cumsum", "cumprod", "logcumsumexp", "softmax", "log_softmax",
    "logsumexp", "amax", "amin", "argmax", "argmin", "argsort", "sort", "topk", "norm", "transpose",
    "swapaxes", "swapdims", "permute", "movedim", "moveaxis", "flatten", "unflatten", "unsqueeze", "squeeze",
    "expand_dims", "view", "reshape", "expand", "repeat", "tile", "repeat_interleave", "flip", "roll", "cat",
    "concat", "concatenate", "stack", "split", "chunk", "narrow", "select", "gather", "index_select",
    "diagonal", "pad", "einsum", "rearrange",
})
AXIS_KEYWORDS = frozenset({"dim", "dims", "axis", "axes", "start_dim", "end_dim", "dim0", "dim1", "keepdim",
                           "shape", "size", "pad"})


def axis_positions(program: str) -> set[tuple[int, int]]:
    """(0-based line, col) of int literals that are axis or shape arguments (see `AXIS_CALLS`) or part of an
    assert (a check, not a knob: shifting it only makes the check fail)."""
    try:
        tree = pyast.parse(program)
    except (SyntaxError, ValueError):
        return set()
    found: set[tuple[int, int]] = set()

    def mark(node: ast.AST, shallow: bool = True) -> None:
        """An int argument, -int, or a tuple/list of them (a shape); with `shallow` off, every int inside."""
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            node = node.operand
        if isinstance(node, ast.Constant) and type(node.value) is int:
            found.add((node.lineno - 1, node.col_offset))
        elif isinstance(node, ast.Tuple | ast.List) or not shallow:
            for sub in ast.iter_child_nodes(node):
                mark(sub, shallow)

    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            mark(node.test, shallow=False)
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in AXIS_CALLS and (isinstance(func, ast.Attribute) or name != "sum"):  # builtin sum: a start
            for arg in node.args:
                mark(arg)
        for given in node.keywords:
            if given.arg in AXIS_KEYWORDS:
                mark(given.value)
    return found


def literals(program: str, regions: list[tuple[int, int]]) -> list[Literal]:
    """Decimal int and float literals in code (not comments, strings or f-strings) inside the regions, but not
    indices nor axis and shape arguments."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(program).readline))
    except (tokenize.TokenError, SyntaxError):
        return []
    axes = axis_positions(program)
    fstring_start, fstring_end = getattr(tokenize, "FSTRING_START", -1), getattr(tokenize, "FSTRING_END", -1)
    found, depth = [], 0
    for i, tok in enumerate(tokens):
        depth += (tok.type == fstring_start) - (tok.type == fstring_end)
        (row, col), (end_row, end_col) = tok.start, tok.end
        if tok.type != tokenize.NUMBER or depth or row != end_row or not kind(tok.string):
            continue
        if not any(lo <= row - 1 < hi for lo, hi in regions):
            continue
        before = tokens[i - 1].string if i else ""
        after = tokens[i + 1].string if i + 1 < len(tokens) else ""
        if kind(tok.string) == "int" and (before == "[" or after == "]"):
            continue  # an index: shifting it mostly breaks shapes instead of tuning anything
        if (row - 1, col) in axes:
            continue
        found.append(Literal(row - 1, col, end_col, tok.string, label(tokens, i)))
    return found


def label(tokens: list[tokenize.TokenInfo], i: int) -> str:
    """The name assigned right before the literal on its line (`r = 0.5`, `f(k=3)`), else the nearest name."""
    row, first = tokens[i].start[0], i
    while first > 0 and tokens[first - 1].start[0] == row:
        first -= 1
    same_line = tokens[first:i]
    for j in range(len(same_line) - 1, 0, -1):
        if same_line[j].string == "=" and same_line[j - 1].type == tokenize.NAME:
            return same_line[j - 1].string
    names = [t.string for t in same_line if t.type == tokenize.NAME and not keyword.iskeyword(t.string)]
    return names[-1] if names else f"L{row}"


def kind(literal: str) -> str:
    text = literal.replace("_", "").lower()
    if text.isdigit():
        return "int"
    if text[-1:] in ("j",) or text.startswith(("0x", "0o", "0b")):
        return ""
    return "float"


def top_functions(program: str, regions: list[tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """Top-level functions wholly inside one region: name -> [first, end) line indices, decorators in."""
    try:
        tree = pyast.parse(program)
    except (SyntaxError, ValueError):
        return {}
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            if same_region(regions, start, node.end_lineno - 1):
                found[node.name] = (start, node.end_lineno)
    return found


def simple_statements(
    program: str, lines: list[str], regions: list[tuple[int, int]]
) -> list[tuple[list[ast.stmt], int]]:
    """(body, index) of every simple statement alone on its one line inside a region (docstrings left out)."""
    try:
        tree = pyast.parse(program)
    except (SyntaxError, ValueError):
        return []
    sites = []
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if not isinstance(body, list):
                continue
            for index, stmt in enumerate(body):
                docstring = isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
                one_line = stmt.end_lineno == stmt.lineno and stmt.end_col_offset is not None
                if docstring or not one_line or isinstance(stmt, COMPOUND):
                    continue
                line = lines[stmt.lineno - 1]
                rest = line[stmt.end_col_offset :].strip()
                alone = not line[: stmt.col_offset].strip() and (not rest or rest.startswith("#"))
                if alone and same_region(regions, stmt.lineno - 1, stmt.lineno - 1):
                    sites.append((body, index))
    return sites


def same_region(regions: list[tuple[int, int]], first: int, last: int) -> bool:
    return any(lo <= first and last < hi for lo, hi in regions)


def occurs_once(text: str, sub: str) -> bool:
    first = text.find(sub)
    return first >= 0 and text.find(sub, first + 1) < 0


def compiles(program: str) -> bool:
    try:
        compile(program, "<candidate>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True
