"""SEARCH/REPLACE edits confined to EVOLVE-BLOCK regions: the one path every edit takes, LLM or offline.

Why a single path: a model's reply and an offline mutation are parsed, located and checked by the same
code, so an offline edit is exactly as appliable as a model's, and neither can ever change the fixed harness
(the evaluation glue outside the `# EVOLVE-BLOCK-START` / `# EVOLVE-BLOCK-END` markers).

Matching is forgiving where models are sloppy and strict where guessing would be wrong. Each block is located
by exact text first; then line by line ignoring trailing whitespace; then ignoring indentation, in which case
the replacement is re-indented by the same delta. A SEARCH that matches in two places is refused as ambiguous,
and one that matches only harness text is refused naming the harness. Every error is an `EditError` with a
one-line reason the Engineer stores with the node (and a model can act on).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

EVOLVE_MARKER = re.compile(r"#\s*EVOLVE-BLOCK-(START|END)")
SEARCH_LINE = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$")
DIVIDER_LINE = re.compile(r"^\s*={5,9}\s*$")
REPLACE_LINE = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$")
_EDIT_MARKERS = (SEARCH_LINE, DIVIDER_LINE, REPLACE_LINE)


class EditError(ValueError):
    """An edit that cannot be parsed or applied; the message is one line saying why."""


@dataclass(frozen=True)
class SearchReplace:
    """One block: the text `search` (whole or partial lines) becomes `replace`."""

    search: str
    replace: str


def parse_edits(text: str) -> list[SearchReplace]:
    """Read every SEARCH/REPLACE block in a reply; prose and markdown fences around the blocks are ignored.

    Markers are tolerant of surrounding whitespace and of 5-9 marker characters. A stray `=======` outside a
    block is ignored (it is also markdown's heading underline); a block without its divider or end marker, or
    an end marker without a block, raises. `\\r\\n` is read as `\\n`.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    blocks: list[SearchReplace] = []
    i = 0
    while i < len(lines):
        if REPLACE_LINE.match(lines[i]):
            raise EditError(f"'>>>>>>> REPLACE' on line {i + 1} has no '<<<<<<< SEARCH' before it")
        if not SEARCH_LINE.match(lines[i]):
            i += 1
            continue
        n = len(blocks) + 1
        divider = _next_match(lines, i + 1, DIVIDER_LINE, stop=(SEARCH_LINE, REPLACE_LINE))
        if divider is None:
            raise EditError(f"SEARCH block {n} (line {i + 1}) has no '=======' divider")
        end = _next_match(lines, divider + 1, REPLACE_LINE, stop=(SEARCH_LINE,))
        if end is None:
            raise EditError(f"SEARCH block {n} (line {i + 1}) has no '>>>>>>> REPLACE' end marker")
        blocks.append(SearchReplace("\n".join(lines[i + 1 : divider]), "\n".join(lines[divider + 1 : end])))
        i = end + 1
    if not blocks:
        raise EditError(
            "no SEARCH/REPLACE block found (expected '<<<<<<< SEARCH', '=======', '>>>>>>> REPLACE')"
        )
    return blocks


def format_edits(blocks: Sequence[SearchReplace]) -> str:
    """Write blocks in the format `parse_edits` reads; raises if a block has a line that reads as a marker."""
    parts = []
    for n, block in enumerate(blocks, 1):
        for line in (block.search + "\n" + block.replace).split("\n"):
            if any(marker.match(line) for marker in _EDIT_MARKERS):
                raise EditError(f"block {n} contains a line that reads as an edit marker: {_quote(line)}")
        parts.append(f"<<<<<<< SEARCH\n{block.search}\n=======\n{block.replace}\n>>>>>>> REPLACE\n")
    return "".join(parts)


def evolve_regions(program: str) -> list[tuple[int, int]]:
    """[start, end) character offsets of the editable text: between marker lines, the markers excluded.

    A program without markers is editable everywhere. Unbalanced or nested markers raise, naming the line.
    """
    regions: list[tuple[int, int]] = []
    open_at: tuple[int, int] | None = None  # (line number, offset after the START line)
    for lineno, (start, end) in enumerate(_line_spans(program), 1):
        kinds = EVOLVE_MARKER.findall(program, start, end)
        if len(kinds) > 1:
            raise EditError(f"line {lineno} holds more than one EVOLVE-BLOCK marker")
        if kinds == ["START"]:
            if open_at is not None:
                raise EditError(f"nested EVOLVE-BLOCK-START on line {lineno} (line {open_at[0]} still open)")
            open_at = (lineno, end)
        elif kinds == ["END"]:
            if open_at is None:
                raise EditError(f"EVOLVE-BLOCK-END on line {lineno} has no EVOLVE-BLOCK-START before it")
            regions.append((open_at[1], start))
            open_at = None
    if open_at is not None:
        raise EditError(f"EVOLVE-BLOCK-START on line {open_at[0]} is never closed by an EVOLVE-BLOCK-END")
    return regions or [(0, len(program))]


def apply_edits(program: str, edits: str | Sequence[SearchReplace]) -> str:
    """Apply the blocks in order (each to the result of the previous one) and return the new program.

    Raises `EditError` when the edit text is malformed, a block is empty, ambiguous, not found, or touches the
    harness; the result always passes `check_harness` against `program`.
    """
    blocks = parse_edits(edits) if isinstance(edits, str) else list(edits)
    if not blocks:
        raise EditError("no SEARCH/REPLACE block to apply")
    evolve_regions(program)  # broken markers are the program's fault, not the first block's
    text = program
    for n, block in enumerate(blocks, 1):
        text = _apply_block(text, block, n)
        reason = check_harness(program, text)
        if reason is not None:
            raise EditError(f"REPLACE block {n} would break the harness: {reason}")
    return text


def check_harness(original: str, candidate: str) -> str | None:
    """None when `candidate` keeps the markers and every character outside the EVOLVE regions, else why."""
    try:
        original_regions = evolve_regions(original)
    except EditError as exc:
        return f"original program: {exc}"
    before, after = len(EVOLVE_MARKER.findall(original)), len(EVOLVE_MARKER.findall(candidate))
    if before != after:
        return f"EVOLVE-BLOCK markers changed: {before} in the original, {after} in the candidate"
    try:
        candidate_regions = evolve_regions(candidate)
    except EditError as exc:
        return f"candidate program: {exc}"
    for (start, old), (_, new) in zip(
        _outside(original, original_regions), _outside(candidate, candidate_regions), strict=True
    ):
        if old != new:
            offset = start + len(_common_prefix(old, new))
            lineno = original.count("\n", 0, offset) + 1
            line = original.split("\n")[lineno - 1] if offset < len(original) else "<end of file>"
            return f"text outside the EVOLVE-BLOCK changed at line {lineno} of the original: {_quote(line)}"
    return None


# ----------------------------------------------------------------------------------------- locating blocks


def _apply_block(text: str, block: SearchReplace, n: int) -> str:
    search = block.search
    first = _quote(next((line for line in search.split("\n") if line.strip()), ""))
    if not search.strip():
        raise EditError(f"SEARCH block {n} is empty")
    regions = evolve_regions(text)

    exact = _occurrences(text, search)
    inside = [pos for pos in exact if _within(regions, pos, pos + len(search))]
    if len(inside) > 1:
        raise EditError(
            f"SEARCH block {n} is ambiguous: it matches {len(inside)} places in the EVOLVE-BLOCK: {first}"
        )
    if inside:
        return _splice_exact(text, inside[0], block)

    spans = _line_spans(text)
    wanted = _strip_final_newline(search).split("\n")
    outside_hits = bool(exact)
    for key in (str.rstrip, str.strip):
        windows = _line_windows(text, spans, wanted, key)
        inside = [w for w in windows if _within(regions, *_window_span(text, spans, w, len(wanted)))]
        if len(inside) > 1:
            raise EditError(
                f"SEARCH block {n} is ambiguous: it matches {len(inside)} places in the EVOLVE-BLOCK "
                f"(ignoring whitespace): {first}"
            )
        if inside:
            return _splice_lines(text, spans, inside[0], wanted, block.replace, reindent=key is str.strip)
        outside_hits = outside_hits or bool(windows)
    if outside_hits:
        raise EditError(f"SEARCH block {n} matches only the fixed harness outside the EVOLVE-BLOCK: {first}")
    raise _not_found(text, regions, search, n, first)


def _not_found(text: str, regions: list[tuple[int, int]], search: str, n: int, first: str) -> EditError:
    editable = [line.strip() for lo, hi in regions for line in text[lo:hi].split("\n") if line.strip()]
    wanted = next((line.strip() for line in search.split("\n") if line.strip()), "")
    closest = difflib.get_close_matches(wanted, editable, n=1, cutoff=0.6)
    hint = f"; closest EVOLVE-BLOCK line: {_quote(closest[0])}" if closest else ""
    return EditError(f"SEARCH block {n} not found in the EVOLVE-BLOCK: {first}{hint}")


def _splice_exact(text: str, pos: int, block: SearchReplace) -> str:
    end = pos + len(block.search)
    replace = block.replace
    if not replace:
        # Deleting whole lines removes the lines, not just their text.
        at_line_start = pos == 0 or text[pos - 1] == "\n"
        if at_line_start and not block.search.endswith("\n") and text.startswith("\n", end):
            end += 1
    elif block.search.endswith("\n") and not replace.endswith("\n"):
        replace += "\n"  # the search consumed a line break; keep the next line on its own line
    return text[:pos] + replace + text[end:]


def _splice_lines(
    text: str, spans: list[tuple[int, int]], first: int, wanted: list[str], replace: str, reindent: bool
) -> str:
    last = spans[first + len(wanted) - 1]
    start, end = spans[first][0], _content_end(text, last)
    if not replace:
        end = last[1]
        if end == len(text) and not text.endswith("\n") and start > 0:
            start -= 1  # deleting the last line of a file without a final newline: drop the break before it
        return text[:start] + text[end:]
    lines = _strip_final_newline(replace).split("\n")
    if reindent:
        k = next((j for j, line in enumerate(wanted) if line.strip()), 0)
        lines = _reindent(lines, _indent(wanted[k]), _indent(text[spans[first + k][0] : spans[first + k][1]]))
    return text[:start] + "\n".join(lines) + text[end:]


def _reindent(lines: list[str], searched: str, found: str) -> list[str]:
    """Shift the replacement by the indentation delta between the SEARCH text and the program."""
    if searched == found:
        return lines
    out = []
    for line in lines:
        if not line.strip():
            out.append(line)
        elif line.startswith(searched):
            out.append(found + line[len(searched) :])
        elif found.startswith(searched):  # less indented than the SEARCH's first line: add the same delta
            out.append(found[len(searched) :] + line)
        else:  # dedenting: remove as much of the delta as this line has
            drop = min(len(searched) - len(found), len(_indent(line)))
            out.append(line[max(drop, 0) :])
    return out


def _line_windows(
    text: str, spans: list[tuple[int, int]], wanted: list[str], key: Callable[[str], str]
) -> list[int]:
    """Indices of the first line of every run of program lines equal to `wanted` under `key`."""
    keys = [key(text[start : _content_end(text, (start, end))]) for start, end in spans]
    target = [key(line) for line in wanted]
    size = len(target)
    return [i for i in range(len(keys) - size + 1) if keys[i] == target[0] and keys[i : i + size] == target]


# ------------------------------------------------------------------------------------------------- helpers


def _next_match(
    lines: list[str], start: int, pattern: re.Pattern[str], stop: tuple[re.Pattern[str], ...]
) -> int | None:
    for i in range(start, len(lines)):
        if pattern.match(lines[i]):
            return i
        if any(other.match(lines[i]) for other in stop):
            return None
    return None


def _line_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of every line, `end` past its newline; no empty line after a final newline."""
    spans, pos = [], 0
    while pos < len(text):
        nl = text.find("\n", pos)
        end = len(text) if nl < 0 else nl + 1
        spans.append((pos, end))
        pos = end
    return spans


def _window_span(text: str, spans: list[tuple[int, int]], first: int, size: int) -> tuple[int, int]:
    """[start, end) of `size` lines from line `first`, the last line's newline excluded."""
    return spans[first][0], _content_end(text, spans[first + size - 1])


def _content_end(text: str, span: tuple[int, int]) -> int:
    start, end = span
    return end - 1 if end > start and text[end - 1] == "\n" else end


def _outside(text: str, regions: list[tuple[int, int]]) -> list[tuple[int, str]]:
    """The harness segments (with their offsets) around the editable regions, markers included."""
    segments, prev = [], 0
    for start, end in regions:
        segments.append((prev, text[prev:start]))
        prev = end
    segments.append((prev, text[prev:]))
    return segments


def _occurrences(text: str, sub: str) -> list[int]:
    """Every start offset of `sub` in `text`, overlapping ones included."""
    found, pos = [], text.find(sub)
    while pos >= 0:
        found.append(pos)
        pos = text.find(sub, pos + 1)
    return found


def _within(regions: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(lo <= start and end <= hi for lo, hi in regions)


def _strip_final_newline(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _common_prefix(a: str, b: str) -> str:
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[:i]


def _quote(line: str, limit: int = 100) -> str:
    line = line.strip()
    return repr(line if len(line) <= limit else line[:limit] + "...(cut)")
