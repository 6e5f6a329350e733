"""Prompt templates (agents/prompts/*.md, overridable per task) and the parsers of the models' replies.

Why templates as files: a task can reword any prompt by dropping a file of the same name into
`<task root>/prompts/` without touching code. Templates use str.format named fields (`{parent}`); a literal brace
in a template is written `{{` / `}}`, while values (code full of braces) are inserted verbatim. Every parser
failure is a one-line `ProposalError` the graph stores with the failed node.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from agents.base import Analysis, Proposal
from knowledge.records import Node
from tools.edits import EditError, parse_edits

TEMPLATE_DIR = Path(__file__).parent / "prompts"
_RESEARCH_FIELDS = frozenset(
    {"task_name", "task_description", "parent", "inspirations", "context_note", "insights", "feedback", "note"}
)
TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    "researcher_diff": _RESEARCH_FIELDS,
    "researcher_rewrite": _RESEARCH_FIELDS,
    "researcher_crossover": _RESEARCH_FIELDS,
    "retry_edit": frozenset({"reason"}),
    "analyzer": frozenset(
        {"name", "motivation", "mode", "edit", "status", "score", "metrics", "error", "stderr_tail", "parent", "best"}
    ),
    "repair": frozenset({"program", "error", "stderr_tail"}),
    "judge": frozenset({"task_description", "program", "metrics", "low", "high"}),
}
TEMPLATE_NAMES: tuple[str, ...] = tuple(TEMPLATE_FIELDS)


class PromptError(ValueError):
    """A template cannot be loaded or rendered (unknown file, unknown field)."""


class ProposalError(ValueError):
    """A model reply that cannot become a proposal; the message is one line saying why."""


class EditProblem(ProposalError):
    """The reply is a proposal whose edit is missing, malformed or does not apply: worth asking once more."""


class PromptTemplates:
    """The built-in templates, each replaceable by `<override_dir>/<name>.md` (checked when loaded).

    The fields each template may use are `TEMPLATE_FIELDS[name]`; an override naming another field, or with an
    unbalanced brace, is refused at load time (start-up), not in the middle of a run.
    """

    def __init__(self, override_dir: Path | None = None) -> None:
        self._texts: dict[str, tuple[str, str]] = {}
        for name in TEMPLATE_NAMES:
            path = TEMPLATE_DIR / f"{name}.md"
            self._texts[name] = (path.read_text(), f"built-in template {name}.md")
        if override_dir is not None and override_dir.is_dir():
            for path in sorted(override_dir.glob("*.md")):
                if path.stem not in TEMPLATE_NAMES:
                    raise PromptError(
                        f"{path}: unknown prompt template (known: {', '.join(n + '.md' for n in TEMPLATE_NAMES)})"
                    )
                self._texts[path.stem] = (path.read_text(), str(path))
                self.render(path.stem, **{field: "" for field in TEMPLATE_FIELDS[path.stem]})

    @classmethod
    def for_task(cls, task_root: Path) -> PromptTemplates:
        return cls(task_root / "prompts")

    def origin(self, name: str) -> str:
        return self._texts[name][1]

    def render(self, template: str, /, **values: object) -> str:
        """Fill `template`; a field the template names but the caller lacks is an error naming both."""
        if template not in self._texts:
            raise PromptError(f"no prompt template {template!r} (known: {', '.join(TEMPLATE_NAMES)})")
        text, origin = self._texts[template]
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as exc:
            raise PromptError(f"{origin}: {exc} (write literal braces as {{{{ and }}}})") from None
        for field in sorted(fields):
            if field not in values:
                known = ", ".join("{" + v + "}" for v in sorted(values))
                raise PromptError(f"{origin} uses unknown field {{{field}}}; available: {known}")
        return text.format_map({k: str(v) for k, v in values.items()})


# ---------------------------------------------------------------------------------------------- rendering


def fence(code: str, lang: str = "python") -> str:
    """A markdown code block that cannot be closed early by backticks inside the code."""
    longest = max((len(m) for m in re.findall(r"`{3,}", code)), default=2)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{code.rstrip(chr(10))}\n{ticks}"


def format_metrics(metrics: Mapping[str, Any]) -> str:
    if not metrics:
        return "(none)"
    parts = []
    for key, value in sorted(metrics.items()):
        shown = f"{value:.6g}" if isinstance(value, float) and math.isfinite(value) else repr(value)
        parts.append(f"{key}={shown}")
    return ", ".join(parts)


def format_score(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.6g}"


def render_node(node: Node, label: str, *, code: bool = True) -> str:
    """A node as the models see it: name, motivation, status, score, metrics, analysis and (full) code."""
    lines = [
        f"### {label}: {node.name} (node {node.id}, status {node.status}, score {format_score(node.score)})",
        f"Motivation: {node.motivation.strip() or '(none)'}",
        f"Metrics: {format_metrics(node.metrics)}",
    ]
    if node.error:
        lines.append(f"Error: {node.error}")
    lines.append("Analysis:\n" + (node.analysis.strip() or "(none)"))
    if code:
        lines.append("Code:\n" + fence(node.program))
    return "\n".join(lines)


def render_insights(insights: Sequence[str]) -> str:
    return "\n".join(f"- {item.strip()}" for item in insights) if insights else "(none yet)"


def render_feedback(feedback: Sequence[str]) -> str:
    """Why earlier proposals of this step were sent back ('' when none), as a prompt section."""
    if not feedback:
        return ""
    items = "\n".join(f"- {item.strip()}" for item in feedback)
    return (
        f"\n## Sent back\nEarlier proposals for this step were sent back:\n{items}\n"
        "Propose something clearly different.\n"
    )


# ------------------------------------------------------------------------------------------------ parsing

_HEADER = re.compile(r"^[#*_\s]*(NAME|MOTIVATION|EDITS?|PROGRAM|CODE|ANALYSIS|INSIGHTS|SCORE|REASON)[*_\s]*:(.*)$")
_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+.-]*)\s*$")


class ParsedProposal(BaseModel):
    """A researcher / repair reply, validated."""

    name: str = Field(min_length=1, max_length=200)
    motivation: str = Field(min_length=1)
    edit: str = Field(min_length=1)
    mode: Literal["diff", "rewrite"]

    def to_proposal(self) -> Proposal:
        return Proposal(name=self.name, motivation=self.motivation, edit=self.edit, mode=self.mode)


def _sections(text: str) -> tuple[list[str], dict[str, tuple[int, str]]]:
    """Lines of the reply and, per header (first occurrence outside code), its line index and inline text."""
    lines = text.replace("\r\n", "\n").split("\n")
    found: dict[str, tuple[int, str]] = {}
    in_code = False
    for i, line in enumerate(lines):
        if _SEARCH.match(line):
            break
        if _FENCE.match(line):
            in_code = not in_code
            continue
        match = None if in_code else _HEADER.match(line)
        if match:
            header = "EDIT" if match.group(1).startswith("EDIT") else match.group(1)
            found.setdefault(header, (i, match.group(2)))
    return lines, found


def _section_text(lines: list[str], found: dict[str, tuple[int, str]], name: str) -> str:
    """The header's inline text plus the lines up to the next header, a code fence or a SEARCH marker."""
    start, inline = found[name]
    body = [inline]
    for line in lines[start + 1 :]:
        if _HEADER.match(line) or _FENCE.match(line) or _SEARCH.match(line):
            break
        body.append(line)
    return "\n".join(body).strip().strip("*_`\"' ").strip()


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every closed fenced block; an unclosed block raises EditProblem."""
    blocks, lines, i = [], text.replace("\r\n", "\n").split("\n"), 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        ticks, lang = opening.group(1), opening.group(2).lower()
        for j in range(i + 1, len(lines)):
            closing = _FENCE.match(lines[j])
            if closing and closing.group(1)[0] == ticks[0] and len(closing.group(1)) >= len(ticks) \
                    and not closing.group(2):
                blocks.append((lang, "\n".join(lines[i + 1 : j]) + "\n"))
                i = j + 1
                break
        else:
            raise EditProblem(f"the code block opened on line {i + 1} is never closed")
    return blocks


def _edit_text(lines: list[str]) -> str:
    first = next((i for i, line in enumerate(lines) if _SEARCH.match(line)), None)
    if first is None:
        raise EditProblem("no SEARCH/REPLACE block found (expected '<<<<<<< SEARCH', '=======', '>>>>>>> REPLACE')")
    last = max((i for i, line in enumerate(lines) if _REPLACE.match(line)), default=len(lines) - 1)
    edit = "\n".join(lines[first : last + 1]) + "\n"
    try:
        parse_edits(edit)
    except EditError as exc:
        raise EditProblem(str(exc)) from None
    return edit


def _program_text(text: str) -> str:
    blocks = [code for lang, code in code_blocks(text) if lang in ("", "python", "py", "python3") and code.strip()]
    if not blocks:
        raise EditProblem("no ```python block holding the whole program")
    return max(blocks, key=len)


def parse_proposal(text: str, mode: Literal["diff", "rewrite", "any"]) -> Proposal:
    """Read NAME, MOTIVATION and the edit (SEARCH/REPLACE blocks, or one ```python block in rewrite mode).

    `any` (repair replies) takes SEARCH/REPLACE blocks when there are some, else the python block. Raises
    ProposalError for a reply that is not a proposal at all, EditProblem when only its edit is unusable.
    """
    if not text.strip():
        raise ProposalError("the model's reply is empty")
    lines, found = _sections(text)
    if "NAME" not in found:
        raise ProposalError("the model's reply has no 'NAME:' line (not in the requested format)")
    if "MOTIVATION" not in found:
        raise ProposalError("the model's reply has no 'MOTIVATION:' section (not in the requested format)")
    name = _section_text(lines, found, "NAME").split("\n")[0].strip()
    motivation = _section_text(lines, found, "MOTIVATION")
    if mode == "any":
        mode = "diff" if any(_SEARCH.match(line) for line in lines) else "rewrite"
    edit = _edit_text(lines) if mode == "diff" else _program_text(text)
    try:
        parsed = ParsedProposal(name=name, motivation=motivation, edit=edit, mode=mode)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise ProposalError(f"the model's reply has an invalid {problem['loc'][0]}: {problem['msg']}") from None
    return parsed.to_proposal()


class ParsedAnalysis(BaseModel):
    text: str = Field(min_length=1)
    insights: tuple[str, ...] = ()


_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.*\S)\s*$")


def parse_analysis(text: str) -> Analysis:
    """Read the ANALYSIS section and the INSIGHTS bullets ("none" bullets are dropped)."""
    lines, found = _sections(text)
    if "ANALYSIS" not in found:
        raise ProposalError("the analysis reply has no 'ANALYSIS:' section")
    insights: list[str] = []
    if "INSIGHTS" in found:
        start, inline = found["INSIGHTS"]
        for line in [inline, *lines[start + 1 :]]:
            bullet = _BULLET.match(line)
            if bullet and bullet.group(1).strip(" .").lower() not in ("none", "n/a"):
                insights.append(bullet.group(1))
    try:
        parsed = ParsedAnalysis(text=_section_text(lines, found, "ANALYSIS"), insights=tuple(insights))
    except ValidationError:
        raise ProposalError("the analysis reply has an empty 'ANALYSIS:' section") from None
    return Analysis(text=parsed.text, insights=parsed.insights)


_SCORE = re.compile(r"SCORE[*_\s]*:[*_\s]*([-+]?\d+(?:\.\d+)?)(?:\s*/\s*\d+(?:\.\d+)?)?", re.IGNORECASE)


def parse_judge_score(text: str, low: float, high: float) -> float:
    """The judge's SCORE, normalised to [0, 1]; a missing or out-of-scale score raises ProposalError."""
    match = _SCORE.search(text)
    if match is None:
        raise ProposalError("the judge's reply has no 'SCORE: <number>' line")
    value = float(match.group(1))
    if not low <= value <= high:
        raise ProposalError(f"the judge's score {value:g} is outside its scale {low:g}..{high:g}")
    return (value - low) / (high - low)
