"""Prompt templates (agents/prompts/*.md, overridable per task) and how nodes are rendered into prompts.

Why templates as files: a task can reword any prompt by dropping a file of the same name into
`<task root>/prompts/` without touching code. Templates use str.format named fields (`{parent}`); a literal brace
in a template is written `{{` / `}}`, while values (code full of braces) are inserted verbatim. The replies are
read by `agents.models.replies`.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from knowledge.records import Node

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


JUDGE_SAMPLES = "judge_samples"  # the one structured metric addressed to a model: the judge's template reads it


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics whose values are numbers, booleans, strings or None: all that prompts show.

    Why: an evaluator may also return structured metrics meant for people, e.g. the verified construction the
    run report draws (`construction`: every centre and radius). Hundreds of numbers a model cannot use would swamp
    each prompt, once per node it shows; they stay in the database and the node's result.json.
    """
    return {k: v for k, v in metrics.items() if v is None or isinstance(v, bool | int | float | str)}


def judge_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """What the judge reads: the scalar metrics plus the samples an evaluator prepared for it, if any."""
    shown = scalar_metrics(metrics)
    if JUDGE_SAMPLES in metrics:
        shown[JUDGE_SAMPLES] = metrics[JUDGE_SAMPLES]
    return shown


def format_metrics(metrics: Mapping[str, Any]) -> str:
    """`key=value, ...` of the scalar metrics (see `scalar_metrics`), floats to 6 significant digits."""
    metrics = scalar_metrics(metrics)
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


def render_insights(insights: Sequence[str], ids: Sequence[int] = ()) -> str:
    """The lessons as a list; with their ids (`[C12]`), which a proposal cites to say where its idea came from."""
    if not insights:
        return "(none yet)"
    tags = [f"[C{i}] " for i in ids] if len(ids) == len(insights) else [""] * len(insights)
    return "\n".join(f"- {tag}{item.strip()}" for tag, item in zip(tags, insights, strict=True))


def render_feedback(feedback: Sequence[str]) -> str:
    """Why earlier proposals of this step were sent back ('' when none), as a prompt section."""
    if not feedback:
        return ""
    items = "\n".join(f"- {item.strip()}" for item in feedback)
    return (
        f"\n## Sent back\nEarlier proposals for this step were sent back:\n{items}\n"
        "Propose something clearly different.\n"
    )
