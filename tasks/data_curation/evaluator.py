"""Trusted evaluator of the data_curation task (`isolation: split`): the candidate's cleaning strategy runs in the
jail over the raw pages; every figure is computed here, against gold texts that never enter the jail.

The candidate is handed each page's url, raw HTML, naive text and category (`pages.Page.inputs`), in a file of
its own jail; it sends back one cleaned text (or a drop) per page. Here:
- token precision / recall / F1 and drop rate against the gold article text, on the search split (fitness:
  `combined_score` is the search split's macro F1) and on the held-out split (stored beside it, never scored);
- the same per category (`f1_news`, `heldout_f1_blog`, ...);
- the downstream check: a byte-level LM trained on the cleaned search pages, its bits per byte on the held-out
  gold text (`lm_bpb`), beside the same LM trained on the naive text (`lm_bpb_naive`, computed once, cached);
- a few (original, cleaned) samples for a judge model, when the run has one (`prompts/judge.md`).
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from char_lm import LMConfig, bits_per_byte  # noqa: E402
from pages import Page, load_pages, split_pages  # noqa: E402
from scoring import PageScore, by_category, score_page, summarize  # noqa: E402

from tools.jail import run_candidate  # noqa: E402
from tools.task_cache import cache_key, cached  # noqa: E402

PARAMS_ENV, SEED_ENV = "ASI_EVOLVE_TASK_PARAMS", "ASI_EVOLVE_SEED"
DRIVER = (HERE / "clean_driver.py").read_text()
SAMPLE_CHARS = 600


class CleaningFailed(RuntimeError):
    """The strategy gave no usable outcome for the pages (crash, timeout, garbage); one line."""


def task_params() -> dict[str, Any]:
    raw = os.environ.get(PARAMS_ENV)
    if raw:
        return json.loads(raw)
    import yaml  # standalone use: the task's own defaults

    return yaml.safe_load((HERE / "task.yaml").read_text())["params"]


def run_strategy(program: Path, pages: list[Page], timeout_s: float) -> list[dict[str, Any]]:
    """The strategy's outcome for each page, run in the jail with the pages' inputs only."""
    with tempfile.TemporaryDirectory(prefix="data-curation-") as tmp:
        os.chmod(tmp, 0o755)
        handed = Path(tmp) / "pages.json"
        handed.write_text(json.dumps([page.inputs() for page in pages]))
        handed.chmod(0o644)
        run = run_candidate(program, code=DRIVER, args=["pages.json"], files={"pages.json": handed},
                            timeout_s=timeout_s)
    if run.timed_out:
        raise CleaningFailed(f"cleaning timed out after {timeout_s:g} s")
    if run.returncode != 0:
        lines = [ln.strip() for ln in run.stderr.splitlines() if ln.strip()]
        raise CleaningFailed(f"cleaning failed ({run.describe_exit()}): {lines[-1][:300] if lines else 'no output'}")
    if run.result_dropped:
        raise CleaningFailed("the cleaned pages are larger than the result channel takes (16 MB)")
    try:
        outcomes = json.loads(run.result.decode())["outcomes"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError):
        raise CleaningFailed("the cleaning sent no readable outcomes") from None
    if not isinstance(outcomes, list) or len(outcomes) != len(pages):
        raise CleaningFailed(f"the cleaning sent {len(outcomes) if isinstance(outcomes, list) else 'no'} outcomes "
                             f"for {len(pages)} pages")
    return [o if isinstance(o, dict) else {"error": "not an outcome"} for o in outcomes]


def cleaned_text(outcome: dict[str, Any]) -> str | None:
    """The page's cleaned text; a drop or an error keeps nothing."""
    text = outcome.get("text")
    return text if isinstance(text, str) else None


def samples(pages: list[Page], outcomes: list[dict[str, Any]], count: int, seed: int) -> list[dict[str, str]]:
    """(original, cleaned) excerpts of a few search pages, for a judge model."""
    chosen = random.Random(seed).sample(range(len(pages)), min(count, len(pages)))
    picked = []
    for i in sorted(chosen):
        cleaned = cleaned_text(outcomes[i])
        picked.append({"url": pages[i].url, "original": pages[i].text[:SAMPLE_CHARS],
                       "cleaned": "(dropped)" if cleaned is None else cleaned[:SAMPLE_CHARS]})
    return picked


def lm_figures(search: list[Page], held: list[Page], kept: list[str], params: dict[str, Any]) -> dict[str, Any]:
    config = LMConfig.from_params({**params.get("lm", {}), "seed": params.get("lm", {}).get("seed", 0)
                                   + int(os.environ.get(SEED_ENV, "0"))})
    gold = [page.gold for page in held]
    bpb = bits_per_byte(kept, gold, config)

    def naive() -> bytes:  # the raw pages under the same LM, once per configuration
        return json.dumps(bits_per_byte([page.text for page in search], gold, config)).encode()

    key = cache_key({"lm": config.__dict__, "split": [params["held_out"], params["split_seed"]],
                     "pages": [p.id for p in search]})
    baseline = json.loads(cached(f"data-curation-naive-lm-{key}.json", naive))
    return {"lm_bpb": bpb, "lm_bpb_naive": baseline, "lm_gain_over_naive": baseline - bpb}


def evaluate(program_path: str | os.PathLike[str]) -> dict[str, Any]:
    start = time.monotonic()
    params = task_params()
    pages = load_pages()
    search, held = split_pages(pages, params["held_out"], params["split_seed"])
    everything = search + held
    try:
        outcomes = run_strategy(Path(program_path), everything, params["clean_timeout_s"])
    except CleaningFailed as exc:
        return {"valid": False, "combined_score": 0.0, "error": str(exc)}
    errors = [o["error"] for o in outcomes if isinstance(o.get("error"), str)]
    if len(errors) > params["max_page_error_rate"] * len(everything):
        return {"valid": False, "combined_score": 0.0, "page_errors": len(errors),
                "error": f"clean(doc) failed on {len(errors)} of {len(everything)} pages: {errors[0]}"}
    texts = [cleaned_text(o) for o in outcomes]
    scores: list[PageScore] = [score_page(t, p.gold) for t, p in zip(texts, everything, strict=True)]
    ours, theirs = scores[:len(search)], scores[len(search):]
    kept = [t for t in texts[:len(search)] if t]
    metrics: dict[str, Any] = {
        **summarize(ours),
        **summarize(theirs, "heldout_"),
        **by_category(ours, [p.category for p in search]),
        **by_category(theirs, [p.category for p in held], "heldout_"),
        "kept_fraction": sum(map(len, kept)) / max(1, sum(len(p.text) for p in search)),
        "page_errors": len(errors),
        "pages_search": len(search),
        "pages_heldout": len(held),
    }
    metrics.update(lm_figures(search, held, kept, params))
    metrics["combined_score"] = metrics["f1"]
    metrics["valid"] = True
    metrics["judge_samples"] = samples(search, outcomes[:len(search)], params["judge_samples"], params["split_seed"])
    if errors:
        metrics["first_page_error"] = errors[0]
    metrics["eval_time_s"] = time.monotonic() - start
    return metrics
