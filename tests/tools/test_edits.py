"""SEARCH/REPLACE parsing and application: properties over random programs plus the cases models get wrong."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tools.edits import (
    EditError,
    SearchReplace,
    apply_edits,
    check_harness,
    evolve_regions,
    format_edits,
    parse_edits,
)

START, END = "# EVOLVE-BLOCK-START", "# EVOLVE-BLOCK-END"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_MARKERISH = re.compile(r"^\s*(<{5,9}\s*SEARCH|={5,9}|>{5,9}\s*REPLACE)\s*$|EVOLVE-BLOCK")

PROGRAM = f"""import math

def harness_setup():
    return 1

{START}
def score(x, y):
    total = x + y
    if total > 1:
        total = total * 0.5
    return total
{END}

def main():
    return score(1, 2)
"""


def block(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def _plain(line: str) -> bool:
    return not _MARKERISH.search(line)


plain_line = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=25
).filter(_plain)
code_line = st.text(alphabet="abxy =+()_:#.,0123456789\t<>", max_size=20).filter(_plain)


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, list[str], list[str], list[str]]:
    head = draw(st.lists(code_line, max_size=5))
    body = draw(st.lists(code_line, min_size=1, max_size=10))
    tail = draw(st.lists(code_line, max_size=5))
    return "\n".join([*head, START, *body, END, *tail]) + "\n", head, body, tail


# -------------------------------------------------------------------------------------------- properties


block_text = st.lists(plain_line, max_size=4).map("\n".join)


@SETTINGS
@given(
    st.lists(st.builds(SearchReplace, block_text, block_text), min_size=1, max_size=4),
    st.lists(plain_line, max_size=3),
    st.lists(plain_line, max_size=3),
)
def test_format_then_parse_round_trips_even_inside_prose(
    blocks: list[SearchReplace], before: list[str], after: list[str]
) -> None:
    text = format_edits(blocks)
    assert parse_edits(text) == blocks
    assert parse_edits("\n".join([*before, "```diff", text, "```", *after])) == blocks


@SETTINGS
@given(programs(), st.data())
def test_replacing_a_region_line_with_itself_is_identity_or_ambiguous(program_parts, data) -> None:
    program, _, body, _ = program_parts
    candidates = [line for line in body if line.strip()]
    assume(candidates)
    line = data.draw(st.sampled_from(candidates))
    region = program[slice(*evolve_regions(program)[0])]
    occurrences = sum(region.startswith(line, i) for i in range(len(region)))
    if occurrences == 1:
        assert apply_edits(program, [SearchReplace(line, line)]) == program
    else:
        with pytest.raises(EditError, match=f"ambiguous: it matches {occurrences} places"):
            apply_edits(program, [SearchReplace(line, line)])


@SETTINGS
@given(programs(), st.data(), st.lists(code_line, max_size=3))
def test_a_successful_apply_never_changes_the_harness(program_parts, data, replacement: list[str]) -> None:
    program, head, _, tail = program_parts
    region_start, region_end = evolve_regions(program)[0]
    inside_region = st.integers(region_start, max(region_start, region_end - 1))
    lo = data.draw(st.one_of(inside_region, st.integers(0, len(program) - 1)))
    hi = data.draw(st.integers(lo + 1, min(len(program), lo + 60)))
    edit = [SearchReplace(program[lo:hi], "\n".join(replacement))]
    try:
        result = apply_edits(program, edit)
    except EditError:
        return
    prefix = "\n".join([*head, START]) + "\n"
    suffix = "\n".join([END, *tail]) + "\n"
    assert check_harness(program, result) is None
    assert result.startswith(prefix) and result.endswith(suffix)
    assert len(result) >= len(prefix) + len(suffix)


@SETTINGS
@given(programs(), st.data())
def test_an_edit_targeting_only_harness_text_always_raises(program_parts, data) -> None:
    program, head, body, tail = program_parts
    harness = [line for line in head + tail if line.strip()]
    assume(harness)
    target = data.draw(st.sampled_from(harness))
    region = "\n".join(body)
    assume(target not in region and all(target.strip() != line.strip() for line in body))
    with pytest.raises(EditError, match="harness"):
        apply_edits(program, [SearchReplace(target, "changed = 1")])
    with pytest.raises(EditError, match="harness"):  # straddling the end marker
        apply_edits(program, [SearchReplace(f"{body[-1]}\n{END}", "changed = 1")])


marker_soup = st.lists(
    st.one_of(
        st.sampled_from(["<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE", START, END, "```", "", "  x = 1"]),
        st.text(max_size=20),
    ),
    max_size=12,
).map("\n".join)


@SETTINGS
@given(st.one_of(st.text(max_size=200), marker_soup), st.one_of(st.text(max_size=200), marker_soup))
def test_garbage_never_raises_anything_but_edit_error(program: str, edit: str) -> None:
    try:
        result = apply_edits(program, edit)
    except EditError as exc:
        assert "\n" not in str(exc)
        return
    assert check_harness(program, result) is None


# ------------------------------------------------------------------------------------------------ examples


def test_exact_edit_inside_the_region() -> None:
    result = apply_edits(PROGRAM, block("    total = x + y", "    total = x - y"))
    assert result == PROGRAM.replace("total = x + y", "total = x - y")


def test_trailing_whitespace_differences_are_tolerated() -> None:
    edit = block("    total = x + y   \n    if total > 1:  ", "    total = x * y\n    if total > 2:")
    result = apply_edits(PROGRAM, edit)
    assert "    total = x * y\n    if total > 2:\n        total = total * 0.5" in result


def test_indentation_differences_are_tolerated_and_the_replacement_is_reindented() -> None:
    edit = block(
        "if total > 1:\n    total = total * 0.5", "if total > 2:\n    total = total * 0.25\n    total += 1"
    )
    result = apply_edits(PROGRAM, edit)
    assert "    if total > 2:\n        total = total * 0.25\n        total += 1\n    return total" in result
    over_indented = block(
        "            total = total * 0.5", "            total = total * 0.1\n            total -= 1"
    )
    result = apply_edits(PROGRAM, over_indented)
    assert "        total = total * 0.1\n        total -= 1\n    return total" in result


def test_ambiguous_search_is_refused_instead_of_guessed() -> None:
    with pytest.raises(EditError, match="ambiguous: it matches 5 places"):
        apply_edits(PROGRAM, block("total", "t"))
    program = f"{START}\nx = 1\n  x = 1\n{END}\n"
    with pytest.raises(EditError, match="ambiguous"):
        apply_edits(program, block(" x = 1 ", "x = 2"))


def test_a_markdown_fenced_reply_with_prose_applies() -> None:
    reply = (
        "I'll halve the threshold.\n\n```python\n"
        + block("    if total > 1:", "    if total > 0.5:")
        + "```\n\nThis should help the score."
    )
    assert "    if total > 0.5:\n" in apply_edits(PROGRAM, reply)


def test_multiple_blocks_apply_in_order_each_seeing_the_previous_result() -> None:
    edit = block("    total = x + y", "    total = x + 2 * y") + "\nthen\n" + block(
        "total = x + 2 * y", "total = x + 3 * y"
    )
    assert "    total = x + 3 * y\n" in apply_edits(PROGRAM, edit)


def test_multiple_regions_are_all_editable_and_the_harness_between_them_is_not() -> None:
    program = f"a = 1\n{START}\nb = 2\n{END}\nc = 3\n{START}\nd = 4\n{END}\ne = 5\n"
    result = apply_edits(program, block("b = 2", "b = 20") + block("d = 4", "d = 40"))
    assert result == program.replace("b = 2", "b = 20").replace("d = 4", "d = 40")
    with pytest.raises(EditError, match="harness"):
        apply_edits(program, block("c = 3", "c = 30"))
    with pytest.raises(EditError, match="harness"):
        apply_edits(program, block(f"b = 2\n{END}\nc = 3", "b = 2"))


def test_a_program_without_markers_is_editable_everywhere() -> None:
    assert evolve_regions("x = 1\ny = 2\n") == [(0, 12)]
    assert apply_edits("x = 1\ny = 2\n", block("y = 2", "y = 3")) == "x = 1\ny = 3\n"


def test_regions_are_the_text_between_marker_lines() -> None:
    program = f"h\n{START}\nbody\n{END}\nt\n"
    [(start, end)] = evolve_regions(program)
    assert program[start:end] == "body\n"


@pytest.mark.parametrize(
    ("program", "reason"),
    [
        (f"{START}\n{START}\n{END}\n{END}\n", "nested EVOLVE-BLOCK-START on line 2"),
        (f"{END}\n{START}\n", "EVOLVE-BLOCK-END on line 1 has no EVOLVE-BLOCK-START"),
        (f"x\n{START}\ny\n", "EVOLVE-BLOCK-START on line 2 is never closed"),
        (f"{START} {END}\n", "line 1 holds more than one"),
    ],
)
def test_broken_markers_are_reported_with_their_line(program: str, reason: str) -> None:
    with pytest.raises(EditError, match=reason):
        evolve_regions(program)
    with pytest.raises(EditError, match=reason):
        apply_edits(program, block("y", "z"))


def test_not_found_names_the_block_its_first_line_and_the_closest_line() -> None:
    edit = block("    total = x + y", "    total = x + y + 1")
    edit += block("    if totl > 1:\n        pass", "    pass")
    with pytest.raises(EditError) as info:
        apply_edits(PROGRAM, edit)
    assert str(info.value) == (
        "SEARCH block 2 not found in the EVOLVE-BLOCK: 'if totl > 1:'; "
        "closest EVOLVE-BLOCK line: 'if total > 1:'"
    )
    with pytest.raises(EditError, match="^SEARCH block 1 not found in the EVOLVE-BLOCK: 'zzz'$"):
        apply_edits(PROGRAM, block("zzz", "y"))


def test_empty_search_is_refused() -> None:
    with pytest.raises(EditError, match="SEARCH block 1 is empty"):
        apply_edits(PROGRAM, block("  ", "x = 1"))


def test_deleting_whole_lines_removes_the_lines() -> None:
    result = apply_edits(PROGRAM, block("    if total > 1:\n        total = total * 0.5", ""))
    assert "    total = x + y\n    return total\n" in result


def test_a_search_ending_in_a_newline_keeps_the_next_line_separate() -> None:
    edits = [SearchReplace("    total = x + y\n", "    total = x")]
    assert "    total = x\n    if total > 1:" in apply_edits(PROGRAM, edits)


def test_a_replacement_that_adds_a_marker_breaks_the_harness_and_is_refused() -> None:
    with pytest.raises(EditError, match="markers changed: 2 in the original, 3"):
        apply_edits(PROGRAM, block("    return total", f"    return total\n{END}"))


def test_check_harness_names_what_changed() -> None:
    assert check_harness(PROGRAM, PROGRAM.replace("x + y", "x * y")) is None
    changed = check_harness(PROGRAM, PROGRAM.replace("return score(1, 2)", "return 99"))
    assert changed == "text outside the EVOLVE-BLOCK changed at line 15 of the original: 'return score(1, 2)'"
    assert "markers changed: 2 in the original, 1" in str(check_harness(PROGRAM, PROGRAM.replace(END, "")))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("just prose, no edit", "no SEARCH/REPLACE block found"),
        ("<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n", "has no '=======' divider"),
        ("<<<<<<< SEARCH\nx\n=======\ny\n", "has no '>>>>>>> REPLACE' end marker"),
        ("x\n=======\ny\n>>>>>>> REPLACE\n", "'>>>>>>> REPLACE' on line 4 has no '<<<<<<< SEARCH'"),
    ],
)
def test_malformed_replies_raise_one_line_reasons(text: str, reason: str) -> None:
    with pytest.raises(EditError, match=re.escape(reason)):
        parse_edits(text)


def test_format_refuses_content_that_would_read_as_a_marker() -> None:
    with pytest.raises(EditError, match="reads as an edit marker"):
        format_edits([SearchReplace("a\n=======\nb", "c")])
