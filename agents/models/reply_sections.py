"""The structure of a model's reply, whichever rendering it uses: labelled fields, code blocks and free text.

A field (name, motivation, sources, edits, program, analysis, insights, score, reason) is read from the first of: a JSON
object (the whole reply, a fenced block, or the outermost braces), an XML-like tag (`<name>…</name>`), a label
line (`NAME: x`, `**Name:** x`, `## Motivation`, `- **Why**: x`), each under several common synonyms. Lines
inside code fences and SEARCH/REPLACE blocks are never read as labels or tags (a program's `<title>` is not the
proposal's name), and a reasoning model's `<think>…</think>` drafts are dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tools.edits import REPLACE_LINE, SEARCH_LINE

_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "title", "change name", "proposal name", "idea name", "short name"),
    "motivation": ("motivation", "rationale", "reasoning", "explanation", "why", "hypothesis", "idea",
                   "description", "approach"),
    "edits": ("edits", "edit", "changes", "diff", "patch", "search/replace", "search/replace blocks",
              "code changes"),
    "program": ("program", "code", "full program", "complete program", "new program", "updated program",
                "improved program", "fixed program", "solution", "implementation"),
    "analysis": ("analysis", "summary", "assessment", "findings", "observations"),
    "insights": ("insights", "lessons", "lessons learned", "takeaways", "key takeaways", "key insights",
                 "learnings"),
    "sources": ("sources", "source", "idea source", "idea sources", "sources of the idea", "inspired by",
                "based on", "builds on", "citations"),
    "score": ("score", "rating", "grade", "final score", "overall score"),
    "reason": ("reason", "justification", "comment", "comments"),
}
_FIELD_OF = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}

FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+.-]*)\s*$")
_DECORATION = re.compile(r"^(?:#{1,6}\s+|[-+]\s+|\*\s+(?=[*_])|\d{1,2}[.)]\s+)")
_LABEL = re.compile(r"^[*_]{0,3}([A-Za-z][A-Za-z /&-]{0,40}?)(?:\s*\([^)]*\))?[*_]{0,3}\s*(?::[*_]{0,3}\s*(.*)|$)")
_TAG = re.compile(r"<(?P<tag>[A-Za-z][\w -]{0,30})>(?P<body>.*?)</(?P=tag)\s*>", re.S | re.I)
PY_LANGS = ("", "python", "py", "python3")
_THINKING = re.compile(r"<(think|thinking)>.*?</\1>", re.S | re.I)
HEADING = re.compile(r"^\s*(?:#{1,6}\s+(.+?)\s*#*|[*_]{2}(.+?)[*_]{2})\s*$")


# --------------------------------------------------------------------------------------------- reading


@dataclass
class Reply:
    """What one reply holds, whichever rendering it used."""

    text: str
    fields: dict[str, Any] = field(default_factory=dict)  # first value found per field (JSON, tags, labels)
    prose: str = ""  # text outside labelled sections, code and edits
    blocks: list[tuple[str, str]] = field(default_factory=list)  # closed fenced blocks (language, code)
    unclosed_at: int | None = None  # line of a code fence that is never closed


def field_of(label: str) -> str | None:
    return _FIELD_OF.get(" ".join(label.lower().replace("_", " ").split()))


def _label(line: str) -> tuple[str, str] | None:
    """(field, inline text) when `line` opens a labelled section (`NAME: x`, `**Name:** x`, `## Name`)."""
    rest = line.strip()
    for _ in range(3):
        stripped = _DECORATION.sub("", rest, count=1)
        if stripped == rest:
            break
        rest = stripped
    match = _LABEL.match(rest)
    if match is None:
        return None
    name = field_of(match.group(1))
    return (name, (match.group(2) or "").strip()) if name else None


def _zones(lines: list[str]) -> list[str]:
    """Per line: 'text', 'code' (inside a fence or a fence line) or 'edit' (inside a SEARCH/REPLACE block)."""
    zones, fence, in_edit = [], None, False
    for line in lines:
        if in_edit:
            zones.append("edit")
            in_edit = not REPLACE_LINE.match(line)
            continue
        if SEARCH_LINE.match(line):
            zones.append("edit")
            in_edit = True
            continue
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
            zones.append("code")
        elif fence is not None:
            zones.append("code")
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence) \
                    and not opening.group(2):
                fence = None
        else:
            zones.append("text")
    return zones


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every closed fenced block, in order."""
    return code_blocks_of(text.replace("\r\n", "\n").split("\n"))[0]


def code_blocks_of(lines: list[str]) -> tuple[list[tuple[str, str]], int | None]:
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        ticks, lang = opening.group(1), opening.group(2).lower()
        for j in range(i + 1, len(lines)):
            closing = FENCE.match(lines[j])
            if closing and closing.group(1)[0] == ticks[0] and len(closing.group(1)) >= len(ticks) \
                    and not closing.group(2):
                blocks.append((lang, "\n".join(lines[i + 1 : j]) + "\n"))
                i = j + 1
                break
        else:
            return blocks, i + 1
    return blocks, None


def _json_object(text: str, blocks: list[tuple[str, str]]) -> dict[str, Any] | None:
    """A JSON object with at least one known key: the whole reply, a fenced block, or the outermost braces."""
    stripped = text.strip()
    candidates = [stripped]
    candidates += [code for lang, code in blocks if lang in ("json", "") and code.lstrip().startswith("{")]
    if "{" in stripped:
        candidates.append(stripped[stripped.index("{") : stripped.rindex("}") + 1] if "}" in stripped else "")
    for candidate in candidates:
        try:
            value = json.loads(candidate, strict=False)
        except ValueError:
            continue
        if isinstance(value, dict):
            known = {field_of(str(k)): v for k, v in value.items() if field_of(str(k))}
            if known:
                return known
    return None


def _labelled(lines: list[str], zones: list[str]) -> tuple[dict[str, str], str]:
    """Text of each labelled section (first occurrence wins) and the prose outside any section."""
    found: dict[str, str] = {}
    prose: list[str] = []
    current: str | None = None
    body: list[str] = []

    def close() -> None:
        if current is not None:
            found.setdefault(current, clean("\n".join(body)))

    for line, zone in zip(lines, zones, strict=True):
        if zone != "text":
            close()
            current, body = None, []
            continue
        label = _label(line)
        if label is not None:
            close()
            current, body = label[0], [label[1]]
        elif current is not None:
            body.append(line)
        elif line.strip():
            prose.append(line.strip())
    close()
    return found, "\n".join(prose)


def clean(text: str) -> str:
    return text.strip().strip("*_`\"' ").strip()


def read_reply(text: str) -> Reply:
    text = _THINKING.sub("", text.replace("\r\n", "\n"))  # a reasoning model's drafts are not its answer
    lines = text.split("\n")
    blocks, unclosed = code_blocks_of(lines)
    reply = Reply(text, blocks=blocks, unclosed_at=unclosed)
    data = _json_object(text, blocks)
    if data:
        reply.fields.update(data)
    zones = _zones(lines)
    # Tags are looked for outside code and edits (a program's HTML `<title>` is not the proposal's name), in a
    # copy of the text of the same length, so a tag's body is read from the original text.
    masked = "\n".join(
        " " * len(line) if zone == "edit" or (zone == "code" and not FENCE.match(line)) else line
        for line, zone in zip(lines, zones, strict=True)
    )
    for match in _TAG.finditer(masked):
        name = field_of(match.group("tag"))
        if name:
            reply.fields.setdefault(name, text[match.start("body") : match.end("body")].strip("\n"))
    labelled, reply.prose = _labelled(lines, zones)
    for name, value in labelled.items():
        reply.fields.setdefault(name, value)
    return reply


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "\n".join(as_text(v) for v in value)
    return "" if value is None else str(value)
