"""Seeding from literature: chunking of Markdown, text, JSONL and real PDF files, and ingest into a base."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from knowledge.cognition import CognitionBase
from knowledge.embeddings import MiniLMEmbedder
from knowledge.ingest import GLOBAL_CORPUS, chunk_file, ingest, iter_corpus_files

TASK_KNOWLEDGE = Path(__file__).resolve().parents[2] / "tasks" / "circle_packing" / "knowledge"


def write_pdf(path: Path, pages: list[str]) -> Path:
    """A minimal valid PDF (Helvetica text, one content stream per page) written byte by byte."""
    count = len(pages)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(count))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {5 + 2 * i} 0 R"
            " /Resources << /Font << /F1 3 0 R >> >> >>".encode()
        )
        lines = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in text.split("\n")]
        ops = "BT /F1 11 Tf 14 TL 72 720 Td " + " ".join(f"({line}) '" for line in lines) + " ET"
        stream = ops.encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    embedder = MiniLMEmbedder()
    embedder.embed(["warm up"])
    return embedder


def test_markdown_sections_become_tagged_items(tmp_path: Path) -> None:
    note = tmp_path / "notes.md"
    note.write_text(textwrap.dedent("""\
        Preamble text before any heading, long enough to stand on its own as an item of knowledge here.

        # Circle packing

        ## Starting layouts

        Hexagonal rows are a good start for a multi-start optimiser, with row counts adding up to n circles.

        ```python
        # not a heading: inside a fenced block

        layout = hexagonal_rows(n)
        ```

        ### Jitter

        Break the symmetry with small random perturbations of the centres before every local optimisation.

        ## Finishing

        Shrink all radii by a tiny relative amount so the exact checker accepts the packing.
        """))
    drafts = chunk_file(note, min_chars=50)
    by_source = {d.source: d for d in drafts}
    assert [d.source for d in drafts] == [
        "notes.md", "notes.md#Starting layouts", "notes.md#Starting layouts", "notes.md#Jitter", "notes.md#Finishing"
    ]
    assert by_source["notes.md#Jitter"].tags == ("circle packing", "starting layouts", "jitter")
    assert by_source["notes.md#Finishing"].tags == ("circle packing", "finishing")
    assert by_source["notes.md"].tags == ()
    code = drafts[2].content
    assert code.startswith("```python") and "# not a heading" in code and code.endswith("```")
    assert all(d.origin == "prior" for d in drafts)
    sharp = tmp_path / "sharp.md"
    sharp.write_text("## Speed-ups in C# ##\n\nUse spans to avoid copying arrays in the hot loop.\n")
    assert [(d.source, d.tags) for d in chunk_file(sharp)] == [("sharp.md#Speed-ups in C#", ("speed-ups in c#",))]


def test_lists_split_into_items_and_short_lead_ins_join_the_next_piece(tmp_path: Path) -> None:
    note = tmp_path / "list.md"
    note.write_text("# Moves\n\nUseful moves:\n- swap two circles of different radius to escape a local optimum\n"
                    "- move the smallest circle into the largest hole\n  (found from Delaunay circumcentres)\n"
                    "- jitter every centre slightly and re-optimise from there\n")
    contents = [d.content for d in chunk_file(note, max_chars=400, min_chars=40)]
    assert contents == [
        "Useful moves:\n- swap two circles of different radius to escape a local optimum",
        "- move the smallest circle into the largest hole\n  (found from Delaunay circumcentres)",
        "- jitter every centre slightly and re-optimise from there",
    ]


def test_long_paragraphs_are_split_at_sentences_never_truncated(tmp_path: Path) -> None:
    sentences = [f"Sentence number {i} says something about circle {i} in the square." for i in range(60)]
    giant = "x" * 700
    note = tmp_path / "long.txt"
    note.write_text(" ".join(sentences) + "\n\nshort tail paragraph\n\n" + giant + "\n")
    drafts = chunk_file(note, max_chars=300)
    assert len(drafts) > 10 and all(len(d.content) <= 300 for d in drafts)
    joined = " ".join(d.content for d in drafts)
    assert all(s in joined for s in sentences)
    assert "short tail paragraph" in joined and joined.count("x") == 700
    assert {d.source for d in drafts} == {"long.txt"}


def test_jsonl_records_and_their_errors(tmp_path: Path) -> None:
    good = tmp_path / "insights.jsonl"
    good.write_text(
        '{"content": "Use the LP for radii", "source": "paper A", "tags": ["lp"]}\n\n'
        '{"text": "Basin hopping helps"}\n'
    )
    drafts = chunk_file(good)
    assert [(d.content, d.source, d.tags) for d in drafts] == [
        ("Use the LP for radii", "paper A", ("lp",)), ("Basin hopping helps", "insights.jsonl#3", ())
    ]
    for line in ('{"tags": ["x"]}', "not json", '{"content": "ok", "tags": "lp"}', "[1, 2]"):
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"content": "fine"}\n' + line + "\n")
        with pytest.raises(ValueError, match=re.escape(f"{bad}:2:")) as info:
            chunk_file(bad)
        assert "\n" not in str(info.value)


def test_pdf_pages_become_items_with_page_sources(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "paper.pdf", [
        "Monotonic basin hopping perturbs the best layout\nand re-optimises it locally.",
        "The linear programme gives optimal radii for fixed centres.",
    ])
    drafts = chunk_file(pdf)
    assert [d.source for d in drafts] == ["paper.pdf#page 1", "paper.pdf#page 2"]
    assert "basin hopping perturbs the best layout and re-optimises" in drafts[0].content
    assert "optimal radii for fixed centres" in drafts[1].content
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(ValueError, match="cannot read PDF"):
        chunk_file(broken)


def test_corpus_files_are_found_recursively_and_bad_paths_refused(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    (folder / "sub" / ".hidden").mkdir(parents=True)
    for name in ("b.md", "sub/a.txt", "sub/c.jsonl", "sub/d.pdf", "sub/e.markdown", "skip.py", "sub/.hidden/f.md"):
        (folder / name).write_text("x")
    single = tmp_path / "z.md"
    single.write_text("x")
    assert iter_corpus_files([single, folder, folder / "b.md"]) == [
        folder / n for n in ("b.md", "sub/a.txt", "sub/c.jsonl", "sub/d.pdf", "sub/e.markdown")
    ] + [single]
    with pytest.raises(ValueError, match="unsupported file type"):
        iter_corpus_files([folder / "skip.py"])
    with pytest.raises(ValueError, match="unsupported file type"):
        chunk_file(folder / "skip.py")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        iter_corpus_files([tmp_path / "nowhere"])


def test_ingest_is_idempotent_and_the_seed_corpus_answers_questions(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    base = CognitionBase(tmp_path / "run.db", tmp_path / "cognition.faiss", minilm)
    sources = [GLOBAL_CORPUS, TASK_KNOWLEDGE]
    expected = sum(len(chunk_file(f)) for f in iter_corpus_files(sources))
    assert len(iter_corpus_files([GLOBAL_CORPUS])) >= 4
    assert ingest(base, sources) == expected == base.count()
    assert ingest(base, sources) == 0 and base.count() == expected
    checks = {
        "how should I pick which parent program to mutate next": "parent_selection.md",
        "reject broken candidates cheaply before the expensive evaluation": "evolution_practice.md",
        "keep a diverse archive of solutions across behaviour descriptors": "quality_diversity.md",
        "compute the best radii when the centres are fixed": "methods.md",
    }
    for query, source_file in checks.items():
        assert base.search(query, k=1)[0].item.source.startswith(source_file), query
