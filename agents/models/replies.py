"""Reading model replies: a proposal's name, motivation and edit; an analysis and its insights; a judge's score.

Why tolerant: models answer in many renderings of the format they were asked for — labels (`NAME:`,
`**Name:**`), Markdown headings (`## Motivation`), XML-like tags (`<name>…</name>`), a JSON object, bare
SEARCH/REPLACE blocks, a unified diff, one fenced program. A good edit must not be lost over its wrapping, so a
reply fails only when it holds no usable edit (an analysis: no text; a judge: no score). Whatever the parser had
to supply itself — a name derived from the edit, a motivation taken from free text — is said in the proposal's
`notes`, which are stored with the node. Every failure is a one-line `ProposalError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from agents.models.errors import EditProblem, ProposalError
from agents.models.reply_sections import (
    FENCE,
    HEADING,
    PY_LANGS,
    Reply,
    as_text,
    clean,
    code_blocks,
    read_reply,
)
from agents.strategies.protocols import Analysis, Proposal
from knowledge.provenance import cited
from knowledge.records import Provenance
from tools.edits import EVOLVE_MARKER, REPLACE_LINE, SEARCH_LINE, EditError, SearchReplace, format_edits, parse_edits

MAX_NAME_CHARS = 120


# --------------------------------------------------------------------------------------------- edits


def _search_replace(text: str) -> str | None:
    """The SEARCH/REPLACE blocks of `text`, validated; None when there are none; EditProblem when malformed."""
    lines = text.replace("\r\n", "\n").split("\n")
    first = next((i for i, line in enumerate(lines) if SEARCH_LINE.match(line)), None)
    if first is None:
        if any(REPLACE_LINE.match(line) for line in lines):
            raise EditProblem("a '>>>>>>> REPLACE' marker has no '<<<<<<< SEARCH' block before it")
        return None
    last = max((i for i, line in enumerate(lines) if REPLACE_LINE.match(line)), default=len(lines) - 1)
    edit = "\n".join(lines[first : last + 1]) + "\n"
    try:
        parse_edits(edit)
    except EditError as exc:
        raise EditProblem(str(exc)) from None
    return edit


def _edge(line: str) -> bool:
    """A hunk's context line that may be trimmed: blank, or an EVOLVE-BLOCK marker (a SEARCH must not hold one)."""
    return not line or bool(EVOLVE_MARKER.search(line))


def _unified_diff(text: str) -> str | None:
    """A unified diff (`@@` hunks of ' ', '-', '+' lines) rewritten as SEARCH/REPLACE blocks; None if none."""
    blocks: list[SearchReplace] = []
    hunk: list[str] | None = None

    def close() -> None:
        if hunk and any(line[:1] in "-+" for line in hunk):
            search = [line[1:] for line in hunk if line[:1] in (" ", "-", "")]
            replace = [line[1:] for line in hunk if line[:1] in (" ", "+", "")]
            # context lines at a hunk's edges may be EVOLVE-BLOCK markers, which a SEARCH must not hold
            while search and replace and search[0] == replace[0] and _edge(search[0]):
                search, replace = search[1:], replace[1:]
            while search and replace and search[-1] == replace[-1] and _edge(search[-1]):
                search, replace = search[:-1], replace[:-1]
            blocks.append(SearchReplace("\n".join(search), "\n".join(replace)))

    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith("@@"):
            close()
            hunk = []
        elif hunk is not None and (line[:1] in (" ", "-", "+") or line == "") \
                and not line.startswith(("--- ", "+++ ")) and not FENCE.match(line):
            hunk.append(line)
        elif hunk is not None and not line.startswith("\\"):
            close()
            hunk = None
    close()
    if not blocks:
        return None
    try:
        return format_edits(blocks)
    except EditError as exc:
        raise EditProblem(str(exc)) from None


def _strip_fence(code: str) -> str:
    blocks = code_blocks(code)
    python = [c for lang, c in blocks if lang in PY_LANGS]
    if python:
        return max(python, key=len)
    code = code.strip("\n")
    return code + "\n" if code else ""


def _programs(reply: Reply) -> list[str]:
    """Candidate whole programs: a JSON or tag `program` field, else the python fenced blocks (longest first)."""
    given = as_text(reply.fields.get("program", ""))
    if given.strip() and not any(SEARCH_LINE.match(line) for line in given.split("\n")):
        return [_strip_fence(given)]
    blocks = [code for lang, code in reply.blocks if lang in PY_LANGS and code.strip()]
    blocks = [code for code in blocks if not any(SEARCH_LINE.match(line) for line in code.split("\n"))]
    return sorted(blocks, key=len, reverse=True)


def _json_edits(value: Any) -> str | None:
    """Edits given as JSON: a string of SEARCH/REPLACE blocks, or a list of {search, replace} objects."""
    if isinstance(value, str):
        return _search_replace(value) or _unified_diff(value)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        blocks = []
        for item in value:
            lowered = {str(k).lower(): v for k, v in item.items()}
            search = next((lowered[k] for k in ("search", "old", "original", "find", "before") if k in lowered), None)
            replace = next((lowered[k] for k in ("replace", "new", "updated", "replacement", "after")
                            if k in lowered), None)
            if not isinstance(search, str) or not isinstance(replace, str):
                raise EditProblem("a JSON edit needs string 'search' and 'replace' fields")
            blocks.append(SearchReplace(search.rstrip("\n"), replace.rstrip("\n")))
        try:
            return format_edits(blocks)
        except EditError as exc:
            raise EditProblem(str(exc)) from None
    if isinstance(value, list):
        return _search_replace("\n".join(as_text(v) for v in value))
    return None


def _whole_program(code: str, parent: str | None) -> bool:
    """Whether a code block can stand for the whole program (rather than a fragment of it)."""
    if EVOLVE_MARKER.search(code):
        return True
    return parent is not None and not EVOLVE_MARKER.search(parent)


def _edit(reply: Reply, mode: Literal["diff", "rewrite", "any"], parent: str | None) -> tuple[str, str]:
    """(edit, mode) in the order the requested mode prefers; EditProblem when the reply holds no usable edit."""
    problem: EditProblem | None = None
    diff = None
    try:
        if "edits" in reply.fields and not isinstance(reply.fields["edits"], str):
            diff = _json_edits(reply.fields["edits"])
        diff = diff or _search_replace(as_text(reply.fields.get("edits", ""))) or _search_replace(reply.text) \
            or _unified_diff(reply.text)
    except EditProblem as exc:
        problem = exc
    programs = _programs(reply)
    if mode == "rewrite" and programs:
        return programs[0], "rewrite"
    if diff:
        return diff, "diff"
    whole = [p for p in programs if mode != "diff" or _whole_program(p, parent)]
    if whole:
        return whole[0], "rewrite"
    if problem is not None:
        raise problem
    if reply.unclosed_at is not None:
        raise EditProblem(f"the code block opened on line {reply.unclosed_at} is never closed")
    if mode == "rewrite":
        raise EditProblem("no ```python block holding the whole program")
    if mode == "any":
        raise EditProblem("no SEARCH/REPLACE block and no ```python block holding the whole program")
    if programs:
        raise EditProblem(
            "no SEARCH/REPLACE block, and the code block is not the whole program (its EVOLVE-BLOCK markers are "
            "missing): give SEARCH/REPLACE blocks or the complete program"
        )
    raise EditProblem("no SEARCH/REPLACE block found (expected '<<<<<<< SEARCH', '=======', '>>>>>>> REPLACE')")


# ----------------------------------------------------------------------------------------------- sources

_COGNITION_CITE = re.compile(r"\b(?:C|lesson|item|cognition item)\s*#?(\d+)\b", re.I)
_NODE_CITE = re.compile(r"\b(?:N|node)\s*#?(\d+)\b", re.I)
_INSPIRATION_CITE = re.compile(r"\binspiration\s*#?(\d+)\b", re.I)
_PARENT_CITE = re.compile(r"\bparent\b", re.I)
_NOVEL = re.compile(r"\b(?:novel|none|original|own idea|new idea)\b", re.I)


@dataclass(frozen=True)
class Shown:
    """What a Researcher prompt showed, i.e. what a reply's SOURCES may cite."""

    item_ids: tuple[int, ...] = ()
    parent_id: int | None = None
    inspiration_ids: tuple[int, ...] = ()


def read_sources(value: Any, shown: Shown) -> tuple[Provenance, tuple[str, ...]]:
    """The provenance a reply's SOURCES field declares: `[C12]` / `lesson 12` are cognition items, `node 7` /
    `N7` / `parent` / `inspiration 2` nodes, `novel` neither; ids the prompt did not show are dropped (noted)."""
    text = as_text(value)
    if not text.strip():
        return Provenance("undeclared", declared_by="model"), ()
    items = [int(m) for m in _COGNITION_CITE.findall(text)]
    nodes = [int(m) for m in _NODE_CITE.findall(text)]
    if _PARENT_CITE.search(text) and shown.parent_id is not None:
        nodes.append(shown.parent_id)
    for index in (int(m) for m in _INSPIRATION_CITE.findall(text)):
        if 1 <= index <= len(shown.inspiration_ids):
            nodes.append(shown.inspiration_ids[index - 1])
    shown_nodes = (*(() if shown.parent_id is None else (shown.parent_id,)), *shown.inspiration_ids)
    return cited(items, nodes, bool(_NOVEL.search(text)), shown_items=shown.item_ids, shown_nodes=shown_nodes,
                 declared_by="model")


# --------------------------------------------------------------------------------------------- proposals


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: text.rfind(" ", 0, limit - 1) if " " in text[: limit - 1] else limit - 1].rstrip(",;:") + "…"


def _changed_line(edit: str, mode: str) -> str:
    """The first line the edit adds or changes, for a derived name."""
    if mode == "rewrite":
        return ""
    for block in parse_edits(edit):
        old = {line.strip() for line in block.search.split("\n")}
        for line in block.replace.split("\n"):
            if line.strip() and line.strip() not in old:
                return line.strip()
    return ""


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return match.group(1) if match else text


def parse_proposal(text: str, mode: Literal["diff", "rewrite", "any"], parent: str | None = None,
                   shown: Shown | None = None) -> Proposal:
    """Read a proposal in any reasonable rendering (see the module docstring).

    `mode` is what was asked: "diff" prefers SEARCH/REPLACE blocks (a unified diff, or a fenced block holding the
    whole program, also count), "rewrite" prefers the whole program, "any" (repairs) takes whichever is there.
    `parent` is the program the edit applies to, used only to tell a whole program from a fragment. A missing
    name or motivation is derived and said in `notes`. With `shown` (what the prompt showed), the reply's
    SOURCES become the proposal's provenance (`read_sources`). Raises ProposalError for an empty reply, EditProblem
    when the reply holds no usable edit.
    """
    if not text.strip():
        raise ProposalError("the model's reply is empty")
    reply = read_reply(text)
    edit, chosen = _edit(reply, mode, parent)
    notes: list[str] = []
    motivation = clean(as_text(reply.fields.get("motivation", "")))
    if not motivation:
        lines = reply.prose.split("\n")
        if not reply.fields.get("name") and HEADING.match(lines[0]):
            lines = lines[1:]  # the heading is the name
        prose = clean("\n".join(lines))
        if len(prose.split()) >= 3:
            motivation = prose
            notes.append("motivation taken from the reply's free text (the reply had no motivation section)")
        else:
            motivation = "(the model gave no motivation)"
            notes.append("the reply gave no motivation")
    name = clean(as_text(reply.fields.get("name", "")).strip().split("\n")[0])
    heading = HEADING.match(reply.prose.split("\n")[0]) if reply.prose else None
    if not name and heading:
        name = clean(heading.group(1) or heading.group(2))
        notes.append("name taken from the reply's first heading")
    if not name:
        if motivation != "(the model gave no motivation)":
            name = _shorten(_first_sentence(motivation), 60)
            notes.append("name derived from the motivation (the reply gave no name)")
        else:
            changed = _changed_line(edit, chosen)
            name = _shorten(f"edit: {changed}", 60) if changed else f"unnamed {chosen}"
            notes.append("name derived from the edit (the reply gave no name)")
    elif len(name) > MAX_NAME_CHARS:
        notes.append(f"name shortened from {len(name)} characters")
        name = _shorten(name, MAX_NAME_CHARS)
    provenance = Proposal(name, motivation, edit).provenance
    if shown is not None:
        provenance, said = read_sources(reply.fields.get("sources", ""), shown)
        notes.extend(said)
    return Proposal(name=name, motivation=motivation, edit=edit, mode=chosen, notes=tuple(notes),  # type: ignore[arg-type]
                    provenance=provenance)


# ---------------------------------------------------------------------------------------------- analyses


_BULLET = re.compile(r"^\s*(?:[-*•+]|\d+[.)])\s+(.*\S)\s*$")


def _insights(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        items = [clean(as_text(v)) for v in value]
    else:
        lines = [line for line in as_text(value).split("\n") if line.strip()]
        bullets = [m.group(1) for m in map(_BULLET.match, lines) if m]
        items = bullets if bullets else [line.strip() for line in lines]
    return tuple(i for i in (clean(x) for x in items) if i and i.strip(" .").lower() not in ("none", "n/a", "-"))


def parse_analysis(text: str) -> Analysis:
    """The analysis text and its insights; without an analysis section the reply's free text is the analysis."""
    reply = read_reply(text)
    analysis = clean(as_text(reply.fields.get("analysis", "")))
    if not analysis:
        analysis = clean(reply.prose)
    if not analysis:
        raise ProposalError("the analysis reply holds no analysis text")
    return Analysis(text=analysis, insights=_insights(reply.fields.get("insights", "")))


# ------------------------------------------------------------------------------------------------ judges

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_OUT_OF = re.compile(rf"({_NUMBER})\s*(?:(?:/|out of|of)\s*({_NUMBER})|(%))", re.I)


def _score_in(text: str) -> tuple[float, float | None] | None:
    """(value, denominator or None) of the first number in `text` ("7", "7/10", "7 out of 10")."""
    ratio = _OUT_OF.search(text)
    number = re.search(_NUMBER, text)
    if number is None:
        return None
    if ratio is not None and ratio.start() == number.start():
        return _ratio(ratio)
    return float(number.group(0)), None


def _ratio(match: re.Match[str]) -> tuple[float, float]:
    return float(match.group(1)), 100.0 if match.group(3) else float(match.group(2))


def parse_judge_score(text: str, low: float, high: float) -> float:
    """The judge's rating normalised to [0, 1] from a score field, an "N/10" anywhere, or a bare number.

    A rating given on another scale ("4/5" or "80%" when ours is 1..10) is read as that fraction. Raises
    ProposalError when no score is found or it lies outside its scale.
    """
    reply = read_reply(text)
    found = None
    if "score" in reply.fields:
        value = reply.fields["score"]
        found = (float(value), None) if isinstance(value, int | float) else _score_in(as_text(value))
    if found is None:
        ratio = _OUT_OF.search(text)
        if ratio is not None:
            found = _ratio(ratio)
    if found is None and re.fullmatch(rf"\s*[*_`]*({_NUMBER})[*_`.]*\s*", text):
        found = (float(re.search(_NUMBER, text).group(0)), None)  # type: ignore[union-attr]
    if found is None:
        raise ProposalError("the judge's reply has no score (expected 'SCORE: <number>')")
    value, denominator = found
    if denominator is not None and denominator != high:
        if not (denominator > 0 and 0 <= value <= denominator):
            raise ProposalError(f"the judge's score {value:g}/{denominator:g} is not a rating")
        return value / denominator
    if not low <= value <= high:
        raise ProposalError(f"the judge's score {value:g} is outside its scale {low:g}..{high:g}")
    return (value - low) / (high - low)
