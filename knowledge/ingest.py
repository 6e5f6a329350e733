"""Seeding the cognition base from literature: Markdown, plain text, JSONL and PDF files become items.

Chunks follow the author's structure (headings, then paragraphs and list items) so that one item holds one
idea and ranks sharply; a paragraph longer than `max_chars` is split at sentence boundaries, never truncated,
so no text is lost on the way in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from knowledge.cognition import CognitionBase, CognitionDraft

GLOBAL_CORPUS: Path = Path(__file__).parent / "corpus"

_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.+?)(?:\s+#+)?\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_BULLET = re.compile(r"^ {0,1}([-*+]|\d{1,3}[.)])\s+\S")


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks; a fenced code block stays whole even with blank lines inside."""
    blocks: list[str] = []
    current: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        if not line.strip() and not in_fence:
            if current:
                blocks.append("\n".join(current).strip("\n"))
            current = []
        else:
            current.append(line.rstrip())
    if current:
        blocks.append("\n".join(current).strip("\n"))
    return [b for b in blocks if b.strip()]


def _split_long(text: str, max_chars: int) -> list[str]:
    """Split at sentence ends (then spaces, then hard cuts for a single giant word); every piece <= max_chars."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if len(sentence) <= max_chars:
            pieces.append(sentence)
            continue
        for word in sentence.split():
            pieces.extend(word[i : i + max_chars] for i in range(0, len(word), max_chars))
    return _pack(pieces, max_chars, min_chars=max_chars, joiner=" ")


def _list_items(block: str) -> list[str]:
    """A block holding a top-level bullet list becomes one piece per item; nested lines stay with their item
    and a lead-in line ("Useful moves:") stays with the first item."""
    if _FENCE.match(block):
        return [block]
    pieces: list[list[str]] = [[]]
    seen_bullet = False
    for line in block.splitlines():
        if _BULLET.match(line):
            if seen_bullet:
                pieces.append([])
            seen_bullet = True
        pieces[-1].append(line)
    return ["\n".join(p) for p in pieces]


def _pack(parts: Sequence[str], max_chars: int, min_chars: int, joiner: str = "\n\n") -> list[str]:
    """One chunk per part; parts over max_chars are split, chunks under min_chars absorb the next part.

    With min_chars == max_chars this is plain greedy packing (how sentences of a long paragraph rejoin).
    """
    chunks: list[str] = []
    current = ""
    for part in parts:
        for piece in [part] if len(part) <= max_chars else _split_long(part, max_chars):
            if current and len(current) < min_chars and len(current) + len(joiner) + len(piece) <= max_chars:
                current += joiner + piece
            else:
                if current:
                    chunks.append(current)
                current = piece
    if current and chunks and len(current) < min_chars and len(chunks[-1]) + len(joiner) + len(current) <= max_chars:
        chunks[-1] += joiner + current
    elif current:
        chunks.append(current)
    return chunks


def _pieces(text: str) -> list[str]:
    """Paragraphs, with bullet lists split into their items: the units an idea usually fits in."""
    return [piece for block in _paragraphs(text) for piece in _list_items(block)]


def _markdown(path: Path, max_chars: int, min_chars: int) -> list[CognitionDraft]:
    """One section per heading; tags are the heading path (lowercase), source names the innermost heading."""
    sections: list[tuple[tuple[str, ...], list[str]]] = [((), [])]
    headings: list[tuple[int, str]] = []
    in_fence = False
    for line in _read_text(path).splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            level = len(match.group(1))
            headings = [h for h in headings if h[0] < level] + [(level, match.group(2).strip())]
            sections.append((tuple(h for _, h in headings), []))
        else:
            sections[-1][1].append(line)
    drafts = []
    for heading_path, lines in sections:
        source = f"{path.name}#{heading_path[-1]}" if heading_path else path.name
        tags = tuple(h.lower() for h in heading_path)
        for chunk in _pack(_pieces("\n".join(lines)), max_chars, min_chars):
            drafts.append(CognitionDraft(chunk, source, tags))
    return drafts


def _text(path: Path, max_chars: int, min_chars: int) -> list[CognitionDraft]:
    return [CognitionDraft(c, path.name) for c in _pack(_pieces(_read_text(path)), max_chars, min_chars)]


def _jsonl(path: Path, max_chars: int, min_chars: int) -> list[CognitionDraft]:
    """One item per line: {"content" or "text": str, "source"?: str, "tags"?: [str]}; kept whole."""
    drafts = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            content = record.get("content", record.get("text"))
            tags = record.get("tags", [])
            if not isinstance(content, str) or not content.strip():
                raise ValueError('needs a non-empty "content" (or "text") string')
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise ValueError('"tags" must be a list of strings')
            source = str(record.get("source") or f"{path.name}#{number}")
        except (ValueError, AttributeError) as exc:
            raise ValueError(f"{path}:{number}: not a cognition record ({exc})") from exc
        drafts.append(CognitionDraft(content, source, tuple(tags)))
    return drafts


def _pdf(path: Path, max_chars: int, min_chars: int) -> list[CognitionDraft]:
    """Text per page (pypdf); line wraps inside a paragraph become single spaces."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        pages = [page.extract_text() or "" for page in PdfReader(path).pages]
    except (PyPdfError, OSError, ValueError) as exc:
        raise ValueError(f"cannot read PDF {path}: {exc}") from exc
    drafts = []
    for number, text in enumerate(pages, start=1):
        paragraphs = [" ".join(p.split()) for p in _paragraphs(text)]
        chunks = _pack(paragraphs, max_chars, min_chars)
        drafts.extend(CognitionDraft(chunk, f"{path.name}#page {number}") for chunk in chunks)
    return drafts


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


CHUNKERS: dict[str, Callable[[Path, int, int], list[CognitionDraft]]] = {
    ".md": _markdown, ".markdown": _markdown, ".txt": _text, ".jsonl": _jsonl, ".pdf": _pdf,
}


def chunk_file(path: Path, max_chars: int = 1200, min_chars: int = 200) -> list[CognitionDraft]:
    """Split one file into cognition drafts; unsupported suffix -> ValueError.

    .md/.markdown: sections by heading (tags = heading path, source = "<file>#<heading>"), then one chunk per
    paragraph or list item; .txt: the same without headings; .jsonl: one item per line; .pdf: per page
    (source "<file>#page N"). Chunks shorter than `min_chars` absorb the next piece (a list's lead-in joins
    its first item); pieces longer than `max_chars` are split at sentence ends.
    """
    path = Path(path)
    chunker = CHUNKERS.get(path.suffix.lower())
    if chunker is None:
        raise ValueError(f"cannot ingest {path}: unsupported file type; valid: {', '.join(CHUNKERS)}")
    if not 1 <= min_chars <= max_chars:
        raise ValueError(f"need 1 <= min_chars <= max_chars, got min_chars={min_chars}, max_chars={max_chars}")
    return chunker(path, max_chars, min_chars)


def iter_corpus_files(paths: Sequence[Path]) -> list[Path]:
    """Supported files among `paths` and inside folders (recursively, skipping hidden ones), sorted.

    A file named explicitly with an unsupported suffix is an error rather than silently skipped.
    """
    found: set[Path] = set()
    for path in map(Path, paths):
        if path.is_dir():
            found.update(
                f for f in path.rglob("*")
                if f.is_file() and f.suffix.lower() in CHUNKERS
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
            )
        elif path.is_file():
            if path.suffix.lower() not in CHUNKERS:
                raise ValueError(f"cannot ingest {path}: unsupported file type; valid: {', '.join(CHUNKERS)}")
            found.add(path)
        else:
            raise FileNotFoundError(f"corpus path {path} does not exist")
    return sorted(found)


def ingest(base: CognitionBase, paths: Sequence[Path], dedup_threshold: float | None = None) -> int:
    """Add every chunk of every corpus file; returns how many were new (re-ingesting the same files adds 0)."""
    drafts = [draft for path in iter_corpus_files(paths) for draft in chunk_file(path)]
    return len(base.add_many(drafts, dedup_threshold)) if drafts else 0
