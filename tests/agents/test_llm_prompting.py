"""Prompt templates (built-in and task overrides) and the parsers of model replies — pure functions, no server."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from agents.base import Analysis
from agents.prompting import (
    TEMPLATE_DIR,
    TEMPLATE_FIELDS,
    EditProblem,
    PromptError,
    PromptTemplates,
    ProposalError,
    code_blocks,
    fence,
    parse_analysis,
    parse_judge_score,
    parse_proposal,
)
from tools.edits import parse_edits

CODE_WITH_BRACES = 'D = {"a": {1, 2}}\nprint(f"{D!r} {{literal}}")\n'


def test_every_builtin_template_renders_its_fields_verbatim() -> None:
    templates = PromptTemplates()
    for name, fields in TEMPLATE_FIELDS.items():
        used = {f for _, f, _, _ in string.Formatter().parse((TEMPLATE_DIR / f"{name}.md").read_text()) if f}
        assert used <= fields, name
        values = {field: f"<{field}:{CODE_WITH_BRACES}>" for field in fields}
        text = templates.render(name, **values)
        for field in used:
            assert values[field] in text, (name, field)
        assert templates.origin(name) == f"built-in template {name}.md"


def test_a_task_can_override_a_template(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "judge.md").write_text('Rate {program} from {low} to {high}. Reply as JSON {{"score": n}}.\n')
    templates = PromptTemplates.for_task(tmp_path)
    text = templates.render("judge", program="P", low="1", high="10", metrics="m", task_description="t")
    assert text == 'Rate P from 1 to 10. Reply as JSON {"score": n}.\n'
    assert templates.origin("judge") == str(prompts / "judge.md")
    assert "Reply again in the same format" in templates.render("retry_edit", reason="r")  # others: built in


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("judge.md", "Rate {programme}", r"uses unknown field \{programme\}; available: .*\{program\}"),
        ("judge.md", "Reply as JSON {", "write literal braces as {{"),
        ("judges.md", "Rate {program}", "unknown prompt template"),
    ],
)
def test_bad_overrides_are_refused_when_loaded(tmp_path: Path, name: str, text: str, message: str) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / name).write_text(text)
    with pytest.raises(PromptError, match=message):
        PromptTemplates.for_task(tmp_path)


def test_fence_survives_backticks_in_the_code() -> None:
    code = 'DOC = """\n```python\nx = 1\n```\n"""\n'
    fenced = fence(code)
    assert fenced.startswith("````python\n") and fenced.endswith("\n````")
    assert code_blocks(f"PROGRAM:\n{fenced}\n") == [("python", code)]


DIFF = """Here is my idea.

## NAME: **Faster loop**
MOTIVATION: Vectorising removes
the Python loop.

EDITS:
```python
<<<<<<< SEARCH
for i in range(n):
    total += i
=======
total = n * (n - 1) // 2
>>>>>>> REPLACE
```
"""


def test_parse_a_diff_reply() -> None:
    proposal = parse_proposal(DIFF, "diff")
    assert (proposal.name, proposal.mode) == ("Faster loop", "diff")
    assert proposal.motivation == "Vectorising removes\nthe Python loop."
    [block] = parse_edits(proposal.edit)
    assert block.search == "for i in range(n):\n    total += i" and block.replace == "total = n * (n - 1) // 2"
    assert "```" not in proposal.edit


def test_parse_a_rewrite_reply_takes_the_longest_python_block() -> None:
    program = "# EVOLVE-BLOCK-START\nX = 3\n# EVOLVE-BLOCK-END\nprint({'x': X})\n"
    reply = f"NAME: new\nMOTIVATION:\nwhy\nPROGRAM:\n```python\n{program}```\nUsage:\n```bash\npython p.py\n```\n"
    proposal = parse_proposal(reply, "rewrite")
    assert (proposal.mode, proposal.edit, proposal.motivation) == ("rewrite", program, "why")
    assert parse_proposal(reply, "any").mode == "rewrite"
    assert parse_proposal(DIFF, "any").mode == "diff"


@pytest.mark.parametrize(
    ("reply", "mode", "error", "message"),
    [
        ("", "diff", ProposalError, "empty"),
        ("Sure! Here is a better program.", "diff", ProposalError, "no 'NAME:' line"),
        ("NAME: x\nEDITS:\n", "diff", ProposalError, "no 'MOTIVATION:' section"),
        ("NAME: x\nMOTIVATION:\n\nEDITS:\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE", "diff", ProposalError,
         "invalid motivation"),
        ("NAME: x\nMOTIVATION: y\nEDITS: none\n", "diff", EditProblem, "no SEARCH/REPLACE block"),
        ("NAME: x\nMOTIVATION: y\n<<<<<<< SEARCH\na\n=======\nb\n", "diff", EditProblem, "no '>>>>>>> REPLACE'"),
        ("NAME: x\nMOTIVATION: y\nPROGRAM:\n```python\nX = 1\n", "rewrite", EditProblem, "never closed"),
        ("NAME: x\nMOTIVATION: y\nPROGRAM: (see above)\n", "rewrite", EditProblem, "no ```python block"),
    ],
)
def test_malformed_replies(reply: str, mode: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        parse_proposal(reply, mode)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_a_name_header_inside_code_is_not_the_name() -> None:
    reply = "```python\nNAME: not this\n```\nMOTIVATION: y\n"
    with pytest.raises(ProposalError, match="no 'NAME:' line"):
        parse_proposal(reply, "diff")


def test_parse_analysis() -> None:
    reply = (
        "**ANALYSIS:**\nThe step overshot the optimum.\nSmaller steps next.\n\nINSIGHTS:\n"
        "- Steps above 1.0 overshoot X=3\n* keep Y fixed\n1. try X=2.9\n- none\n"
    )
    assert parse_analysis(reply) == Analysis(
        text="The step overshot the optimum.\nSmaller steps next.",
        insights=("Steps above 1.0 overshoot X=3", "keep Y fixed", "try X=2.9"),
    )
    assert parse_analysis("ANALYSIS: short.\n") == Analysis("short.", ())
    with pytest.raises(ProposalError, match="no 'ANALYSIS:' section"):
        parse_analysis("It went fine.")
    with pytest.raises(ProposalError, match="empty 'ANALYSIS:'"):
        parse_analysis("ANALYSIS:\n\nINSIGHTS:\n- a\n")


def test_parse_judge_score() -> None:
    assert parse_judge_score("SCORE: 7\nREASON: solid", 1, 10) == pytest.approx(6 / 9)
    assert parse_judge_score("**Score:** 10/10", 1, 10) == 1.0
    assert parse_judge_score("SCORE: 1.0", 1, 10) == 0.0
    with pytest.raises(ProposalError, match="outside its scale 1..10"):
        parse_judge_score("SCORE: 11", 1, 10)
    with pytest.raises(ProposalError, match="no 'SCORE"):
        parse_judge_score("I would give it a seven.", 1, 10)
