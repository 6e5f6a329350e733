"""Prompt templates (built-in and task overrides) — pure functions, no server."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from agents.models.prompting import TEMPLATE_DIR, TEMPLATE_FIELDS, PromptError, PromptTemplates, fence
from agents.models.reply_sections import code_blocks

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


def test_a_task_can_override_a_template(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "judge.md").write_text('Rate {program} from {low} to {high}. Reply as JSON {{"score": n}}.\n')
    templates = PromptTemplates.for_task(tmp_path)
    text = templates.render("judge", program="P", low="1", high="10", metrics="m", task_description="t")
    assert text == 'Rate P from 1 to 10. Reply as JSON {"score": n}.\n'
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
