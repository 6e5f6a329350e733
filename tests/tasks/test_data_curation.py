"""The data_curation task through its real path: the trusted evaluator hands the jailed strategy the raw pages
only, then scores what came back against gold article texts the jail never holds."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from agents.models.client import LLMClient
from agents.models.ledger import CallLedger
from agents.models.prompting import PromptTemplates
from agents.models.specs import ModelSpec
from agents.strategies.judge_llm import LLMJudge
from tasks.registry import BUILTIN_DIR, load_task
from tests.support.cli import asi, status_json
from tests.support.hostile import bwrap_support
from tests.support.openai_server import FakeOpenAIServer
from tools.evaluation import evaluate_program
from tools.results import EvalResult

FOLDER = BUILTIN_DIR / "data_curation"
PROGRAMS = {"initial": FOLDER / "initial_program.py", "naive": FOLDER / "references" / "naive.py",
            "line_filter": FOLDER / "references" / "line_filter.py",
            "trafilatura": FOLDER / "references" / "trafilatura_default.py"}
CATEGORIES = ("news", "blog", "feature", "non_english")

pytestmark = pytest.mark.slow
needs_data = pytest.mark.skipif(not os.environ.get("ASI_EVOLVE_DATA_DIR"),
                                reason="needs ASI_EVOLVE_DATA_DIR (web_text)")


def _evaluate(program: Path, *params: str) -> EvalResult:
    return evaluate_program(load_task("data_curation", "smoke", params), program)


def _program(tmp_path: Path, source: str, name: str = "candidate.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _pages():
    sys.path.insert(0, str(FOLDER))
    try:
        from pages import load_pages, split_pages
    finally:
        sys.path.remove(str(FOLDER))
    params = load_task("data_curation").params
    return split_pages(load_pages(), params["held_out"], params["split_seed"])


@pytest.fixture(scope="module")
def results() -> dict[str, EvalResult]:
    return {name: _evaluate(path) for name, path in PROGRAMS.items()}


@needs_data
def test_references_score_in_their_ranges_and_order(results) -> None:
    for name, result in results.items():
        assert result.status == "ok", (name, result.error)
    f1 = {name: r.score for name, r in results.items()}
    assert 0.6 < f1["naive"] < 0.7 and f1["initial"] == pytest.approx(f1["naive"], abs=1e-12)  # the naive start
    assert 0.72 < f1["line_filter"] < 0.85
    assert 0.92 < f1["trafilatura"] < 0.99
    assert f1["naive"] < f1["line_filter"] < f1["trafilatura"]
    naive = results["naive"].metrics
    assert naive["recall"] > 0.99 and naive["precision"] < 0.6 and naive["drop_rate"] == 0.0  # all kept
    assert results["trafilatura"].metrics["precision"] > 0.9


@needs_data
def test_both_splits_and_every_category_are_stored(results) -> None:
    metrics = results["trafilatura"].metrics
    assert metrics["pages_search"] + metrics["pages_heldout"] == 181 and metrics["pages_heldout"] > 40
    for category in CATEGORIES:
        for prefix in ("", "heldout_"):
            assert metrics[f"{prefix}pages_{category}"] >= 1
            assert 0.0 <= metrics[f"{prefix}f1_{category}"] <= 1.0
    assert metrics["combined_score"] == metrics["f1"] != metrics["heldout_f1"]
    for key in ("lm_bpb", "lm_bpb_naive", "lm_gain_over_naive", "kept_fraction"):
        assert isinstance(metrics[key], float)
    samples = metrics["judge_samples"]
    assert len(samples) == 3 and all(set(s) == {"url", "original", "cleaned"} for s in samples)


@needs_data
def test_a_judge_model_rates_the_samples_with_the_tasks_own_prompt(tmp_path: Path, results) -> None:
    metrics = results["trafilatura"].metrics
    with FakeOpenAIServer(["SCORE: 8\nREASON: the articles are kept, the menus gone."]) as server:
        client = LLMClient([ModelSpec("judge-model", base_url=server.base_url, max_retries=1)],
                           CallLedger(tmp_path / "run.db"), retry_wait_s=0.01)
        judge = LLMJudge(client, (1, 10), 0.3, templates=PromptTemplates.for_task(FOLDER))
        rating, reason = judge.rate(PROGRAMS["trafilatura"].read_text(), metrics,
                                    load_task("data_curation").description, key="g1.0:judge")
        [request] = server.chat_requests()
    assert rating == pytest.approx(7 / 9) and reason == ""
    prompt = request.prompt_text()
    assert "data engineer" in prompt and "judge_samples" in prompt
    assert all(sample["url"] in prompt for sample in metrics["judge_samples"])


@needs_data
def test_a_candidate_that_searches_for_the_answers_finds_nothing(tmp_path: Path) -> None:
    """It looks for the gold files, the data folder and its variable everywhere it can reach; had it found
    any, it would keep the naive text (F1 about 0.65), else it keeps nothing (F1 0)."""
    bwrap_support()
    program = _program(tmp_path, """
        import os, time
        NEEDLES = ("ground-truth.json", "html-text.json", "article_extraction_benchmark", "ASI_EVOLVE_DATA_DIR")
        def search():
            deadline = time.monotonic() + 20
            if any(n in f"{k}={v}" for k, v in os.environ.items() for n in NEEDLES):
                return True
            for proc in os.listdir("/proc"):
                for part in ("environ", "cmdline"):
                    try:
                        with open(f"/proc/{proc}/{part}", "rb") as handle:
                            if any(n.encode() in handle.read() for n in NEEDLES):
                                return True
                    except OSError:
                        pass
            for root, dirs, files in os.walk("/"):
                dirs[:] = [d for d in dirs if f"{root}/{d}".lstrip("/").split("/")[0] not in ("proc", "sys", "dev")]
                if any(n in name for name in files + dirs for n in NEEDLES[:3]):
                    return True
                if time.monotonic() > deadline:
                    raise RuntimeError("search did not finish")
            return False
        FOUND = search()
        def clean(doc):
            return doc["text"] if FOUND else ""
    """)
    result = _evaluate(program)
    assert result.status == "ok", result.error
    assert result.score == 0.0 and result.metrics["page_errors"] == 0


@needs_data
def test_memorised_gold_of_unseen_pages_does_not_raise_the_fitness(tmp_path: Path, results) -> None:
    """A strategy that appends the held-out pages' gold text (memorised, so the downstream LM, measured on
    that text, looks better) to every search page it cleans: fitness is the search split's F1, so it falls."""
    _, held = _pages()
    memorised = "\n".join(page.gold for page in held)
    program = _program(tmp_path, f"""
        MEMORISED = {json.dumps(memorised)}
        def clean(doc):
            return doc["text"] + "\\n" + MEMORISED[:20000]
    """)
    result = _evaluate(program)
    assert result.status == "ok", result.error
    assert result.score < results["naive"].score - 0.1
    assert result.metrics["precision"] < results["naive"].metrics["precision"]


@needs_data
@pytest.mark.parametrize(("source", "expected"), [
    ("def clean(doc)\n    return ''\n", "SyntaxError"),
    ("def tidy(doc):\n    return ''\n", "defines no clean(doc)"),
    ("def clean(doc):\n    raise ValueError('no parser for ' + doc['id'])\n", "ValueError: no parser for"),
    ("def clean(doc):\n    return 42\n", "clean returned int, expected str or None"),
    ("def clean(doc):\n    while True:\n        pass\n", "timed out after 3 s"),
], ids=["syntax", "no-clean", "raises", "wrong-type", "endless"])
def test_broken_strategies_fail_with_a_reason(tmp_path: Path, source: str, expected: str) -> None:
    result = _evaluate(_program(tmp_path, source), "clean_timeout_s=3")
    assert result.status in ("failed", "invalid") and result.score is None
    assert expected in result.error, result.error


def test_missing_data_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "ASI_EVOLVE_DATA_DIR": str(tmp_path)}
    done = asi("eval", "data_curation", str(PROGRAMS["naive"]), env=env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "ground-truth.json" in done.stderr and "article-extraction-benchmark" in done.stderr


@needs_data
def test_an_offline_run_stores_scored_nodes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = asi("run", "data_curation", "--config", "smoke", "--steps", "3", "--seed", "0", "--run-dir",
               str(run_dir), "--no-cognition")
    assert done.returncode == 0, done.stderr[-2000:]
    status = status_json(run_dir)
    assert status["nodes"] >= 3 and status["best_score"] >= 0.65
