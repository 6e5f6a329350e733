"""The dti task through its real path: RDKit features computed and cached by trusted code, the model fit and
asked for predictions in the jail, the figures computed against labels the jail never holds."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from tasks.registry import BUILTIN_DIR, load_task
from tests.support.cli import asi, status_json
from tests.support.hostile import bwrap_support
from tools.evaluation import evaluate_program
from tools.results import EvalResult

FOLDER = BUILTIN_DIR / "dti"
PROGRAMS = {"initial": FOLDER / "initial_program.py",
            "gradient_boosting": FOLDER / "references" / "gradient_boosting.py",
            "neural": FOLDER / "references" / "neural.py"}
FIGURES = ("ci", "mse", "mse_bound", "spearman", "auroc", "auprc")

pytestmark = pytest.mark.slow
needs_data = pytest.mark.skipif(not os.environ.get("ASI_EVOLVE_DATA_DIR"), reason="needs ASI_EVOLVE_DATA_DIR (dti)")


def _evaluate(program: Path, cache: Path | None = None, *params: str) -> EvalResult:
    launch = {"feature_cache": str(cache)} if cache else None
    return evaluate_program(load_task("dti", None, params), program, launch=launch)


def _program(tmp_path: Path, block: str) -> Path:
    """The initial program with its fit/predict part replaced by `block`."""
    source = PROGRAMS["initial"].read_text()
    start, end = source.index("def pair_features"), source.index("# EVOLVE-BLOCK-END")
    path = tmp_path / "candidate.py"
    path.write_text(source[:start] + textwrap.dedent(block) + "\n" + source[end:])
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, EvalResult]:
    cache = tmp_path_factory.mktemp("chem")
    return {name: _evaluate(path, cache) for name, path in PROGRAMS.items()}


@needs_data
def test_references_score_in_their_ranges_and_order(results) -> None:
    for name, result in results.items():
        assert result.status == "ok", (name, result.error)
        for figure in FIGURES:
            assert figure in result.metrics and f"cold_drug_{figure}" in result.metrics
    ci = {name: r.score for name, r in results.items()}
    assert 0.62 < ci["initial"] < 0.72
    assert 0.85 < ci["gradient_boosting"] < 0.9 and 0.86 < ci["neural"] < 0.91
    assert ci["initial"] < ci["gradient_boosting"] and ci["initial"] < ci["neural"]
    for result in results.values():  # unseen drugs are harder than unseen pairs of seen ones
        assert 0.55 < result.metrics["cold_drug_ci"] < result.metrics["ci"] + 0.1
        assert result.metrics["test_pairs"] == 5010 and result.metrics["deepdta_ci"] == 0.878
    boosted = results["gradient_boosting"].metrics
    assert boosted["auroc"] > 0.9 and boosted["mse"] < 0.4


@needs_data
def test_features_are_computed_once_per_run(results, tmp_path: Path) -> None:
    """The module's evaluations shared one cache: the references' Morgan/3-mer matrices were reused; a candidate
    that changes only its model computes nothing."""
    assert results["gradient_boosting"].metrics["feature_cache_hits"] >= 1  # Morgan, from the initial program
    cache = tmp_path / "chem"
    first = _evaluate(PROGRAMS["initial"], cache)
    changed = tmp_path / "changed.py"
    changed.write_text(PROGRAMS["initial"].read_text().replace("ALPHA = 10.0", "ALPHA = 1000.0"))
    second = _evaluate(changed, cache)
    assert first.metrics["feature_cache_misses"] == 3 and first.metrics["feature_cache_hits"] == 0
    assert second.metrics["feature_cache_misses"] == 0 and second.metrics["feature_cache_hits"] == 3
    assert second.score != first.score


@needs_data
def test_a_candidate_never_sees_the_labels_it_is_scored_on(tmp_path: Path) -> None:
    """It checks what it was handed, and searches everything it can reach for Davis; had it found anything it
    would crash, and the labels it was given are the training pairs' only. Constant predictions: ci 0.5."""
    bwrap_support()
    program = _program(tmp_path, """
        import os
        FILES = {"pairs.csv", "drugs.csv", "proteins.csv", "test_fold_setting1.txt", "ligands_can.txt"}
        NEEDLES = ("davis", "pairs.csv", "ASI_EVOLVE_DATA_DIR", "dti/")
        def fit(train, seed):
            assert set(train) == {"drug_x", "protein_x", "pairs", "y", "smiles", "sequences"}
            assert len(train["y"]) == len(train["pairs"])
            here = set(os.listdir("."))
            assert here <= {"program.py", "inputs.npz", "names.json"}, here
            import numpy as np
            with np.load("inputs.npz") as stored:
                assert not [k for k in stored.files if k.endswith("test_y")], stored.files
            for key, value in os.environ.items():
                assert not any(n in f"{key}={value}" for n in NEEDLES), key
            for root, dirs, files in os.walk("/"):
                dirs[:] = [d for d in dirs if f"{root}/{d}".lstrip("/").split("/")[0] not in ("proc", "sys", "dev")]
                found = [n for n in files if n in FILES]
                assert not found, (root, found)
            return None
        def predict(model, test):
            return [6.0] * len(test["pairs"])
    """)
    result = _evaluate(program)
    assert result.status == "ok", result.error
    assert result.score == 0.5 and result.metrics["cold_drug_ci"] == 0.5


@needs_data
@pytest.mark.parametrize(("block", "expected"), [
    ("def fit(train, seed):\n    return None\n", "defines no predict()"),
    ("def fit(train, seed):\n    return None\ndef predict(model, test):\n    return [5.0] * 3\n",
     "gave 3 standard predictions for 5010 test pairs"),
    ("def fit(train, seed):\n    return None\ndef predict(model, test):\n    return [float('nan')] * 5010\n",
     "5010 standard predictions are NaN or infinite"),
    ("def fit(train, seed):\n    raise MemoryError('too big')\ndef predict(model, test):\n    return []\n",
     "MemoryError: too big"),
    ("DRUG_FEATURES = {'ecfp4': {}}\ndef fit(t, s):\n    return None\ndef predict(m, t):\n    return []\n",
     "unknown drug featuriser 'ecfp4'"),
], ids=["no-predict", "short", "nan", "raises", "bad-features"])
def test_broken_models_fail_with_a_reason(tmp_path: Path, block: str, expected: str) -> None:
    result = _evaluate(_program(tmp_path, block))
    assert result.status in ("failed", "invalid") and result.score is None
    assert expected in result.error, result.error


@needs_data
def test_bad_smiles_and_odd_sequences_are_handled_with_a_reason(tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "data"
    shutil.copytree(Path(os.environ["ASI_EVOLVE_DATA_DIR"]) / "dti", data / "dti")
    drugs = data / "dti" / "davis" / "drugs.csv"
    lines = drugs.read_text().splitlines()
    index, cid, _, iso = lines[1].split(",")
    lines[1] = f"{index},{cid},C1CC((N,{iso}"
    drugs.write_text("\n".join(lines) + "\n")
    proteins = data / "dti" / "davis" / "proteins.csv"
    rows = proteins.read_text().splitlines()
    rows[1] = "0,AAK1,"  # an empty sequence
    rows[2] = rows[2].rsplit(",", 1)[0] + ",mkx1-" + rows[2].rsplit(",", 1)[1][:50].lower()
    proteins.write_text("\n".join(rows) + "\n")
    monkeypatch.setenv("ASI_EVOLVE_DATA_DIR", str(data))
    result = _evaluate(PROGRAMS["initial"], tmp_path / "chem")
    assert result.status == "ok", result.error
    metrics = result.metrics
    assert metrics["invalid_drugs"] == 1 and "drug 0: RDKit cannot parse SMILES" in metrics["drug_problem"]
    assert metrics["odd_proteins"] >= 2 and "protein 0: empty protein sequence" in metrics["protein_problem"]


def test_missing_data_is_one_clear_line(tmp_path: Path) -> None:
    done = asi("eval", "dti", str(PROGRAMS["initial"]), env={"ASI_EVOLVE_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "dti/davis/pairs.csv" in done.stderr and "DeepDTA" in done.stderr


@needs_data
def test_an_offline_run_launches_the_rdkit_tool_and_stores_scored_nodes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = asi("run", "dti", "--steps", "3", "--seed", "0", "--run-dir", str(run_dir), "--no-cognition")
    assert done.returncode == 0, done.stderr[-2000:]
    status = status_json(run_dir)
    assert status["nodes"] >= 3 and status["best_score"] > 0.62
    assert status["reference_score"] == 0.878
    assert sorted(p.name.split("-")[0] for p in (run_dir / "cache" / "chem").glob("*.npz")) == [
        "drug", "protein", "protein"]  # the run's features, computed once for all its nodes
