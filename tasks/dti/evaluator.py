"""Trusted evaluator of the dti task (`isolation: split`, `launcher: rdkit`): the candidate's affinity model is
fit and asked for predictions in the jail; the labels it predicts stay here, and every figure is computed here.

The features the program names (`DRUG_FEATURES`, `PROTEIN_FEATURES`, read without running it) are computed by
`tools.chem` with RDKit, cached per run (the launcher tool names the folder) so an unchanged featurisation is
never recomputed. The jail gets the feature matrices, SMILES and sequences, the training pairs with their pKd
and the test pairs without. Fitness (`combined_score`) is the concordance index on DeepDTA's test fold; the
cold-drug split (drugs never seen in training) is the second objective. DeepDTA and GraphDTA's published
figures are printed beside them.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from affinity_metrics import affinity_metrics  # noqa: E402
from davis import Davis, Split, load_davis  # noqa: E402

from tools.chem import FeatureCache, FeatureSpecError, requested_features  # noqa: E402
from tools.jail import run_candidate  # noqa: E402
from tools.task_cache import cache_dir  # noqa: E402

PARAMS_ENV, SEED_ENV, LAUNCH_ENV = "ASI_EVOLVE_TASK_PARAMS", "ASI_EVOLVE_SEED", "ASI_EVOLVE_LAUNCH"
DRIVER = (HERE / "fit_driver.py").read_text()
DEFAULT_FEATURES = ({"morgan": {"radius": 2, "n_bits": 1024}}, {"aac": {}})
# published results on Davis (DeepDTA's test fold): Öztürk et al. 2018; Nguyen et al. 2021 (GraphDTA, GIN)
ANCHORS = {"deepdta_ci": 0.878, "deepdta_mse": 0.261, "graphdta_ci": 0.893, "graphdta_mse": 0.229}


class FitFailed(RuntimeError):
    """The model gave no usable predictions (crash, timeout, wrong count, NaN); one line."""


def task_params() -> dict[str, Any]:
    raw = os.environ.get(PARAMS_ENV)
    if raw:
        return json.loads(raw)
    import yaml  # standalone use: the task's own defaults

    return yaml.safe_load((HERE / "task.yaml").read_text())["params"]


def feature_cache() -> FeatureCache:
    """The run's feature folder (named by the launcher tool), else this machine's task cache."""
    launch = json.loads(os.environ.get(LAUNCH_ENV) or "{}")
    folder = launch.get("feature_cache") if isinstance(launch, dict) else None
    return FeatureCache(Path(folder) if folder else cache_dir("asi-evolve-dti-cache") / "chem")


def run_model(program: Path, data: Davis, splits: dict[str, Split], drug_x: np.ndarray, protein_x: np.ndarray,
              seed: int, timeout_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dti-") as tmp:
        os.chmod(tmp, 0o755)
        inputs, names = Path(tmp) / "inputs.npz", Path(tmp) / "names.json"
        arrays: dict[str, np.ndarray] = {"drug_x": drug_x, "protein_x": protein_x, "seed": np.array(seed)}
        for name, split in splits.items():  # the test labels are not among them
            arrays.update({f"{name}_train_pairs": split.train_pairs, f"{name}_train_y": split.train_y,
                           f"{name}_test_pairs": split.test_pairs})
        np.savez(inputs, **arrays)
        names.write_text(json.dumps({"smiles": data.smiles, "sequences": data.sequences}))
        for path in (inputs, names):
            path.chmod(0o644)
        run = run_candidate(program, code=DRIVER, args=["inputs.npz", "names.json"],
                            files={"inputs.npz": inputs, "names.json": names}, timeout_s=timeout_s)
    if run.timed_out:
        raise FitFailed(f"fitting timed out after {timeout_s:g} s")
    if run.returncode != 0:
        lines = [ln.strip() for ln in run.stderr.splitlines() if ln.strip()]
        raise FitFailed(f"fitting failed ({run.describe_exit()}): {lines[-1][:300] if lines else 'no output'}")
    try:
        return json.loads(run.result.decode())
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FitFailed("the model sent no readable predictions") from None


def predictions(sent: Any, name: str, count: int) -> np.ndarray:
    values = sent.get(name) if isinstance(sent, dict) else None
    if not isinstance(values, list) or len(values) != count:
        raise FitFailed(f"predict() gave {len(values) if isinstance(values, list) else 'no'} {name} predictions "
                        f"for {count} test pairs")
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise FitFailed(f"the {name} predictions are not numbers") from None
    if not np.isfinite(array).all():
        raise FitFailed(f"{int((~np.isfinite(array)).sum())} {name} predictions are NaN or infinite")
    return array


def evaluate(program_path: str | os.PathLike[str]) -> dict[str, Any]:
    start = time.monotonic()
    params = task_params()
    program = Path(program_path)
    try:
        drug_spec, protein_spec = requested_features(program.read_text(errors="replace"), DEFAULT_FEATURES)
    except FeatureSpecError as exc:
        return {"valid": False, "combined_score": 0.0, "error": str(exc)}
    data = load_davis()
    cache = feature_cache()
    drugs = cache.features("drug", drug_spec, data.smiles)
    proteins = cache.features("protein", protein_spec, data.sequences)
    splits = {"standard": data.standard(), "cold_drug": data.cold_drug(params["cold_drug_share"],
                                                                      params["split_seed"])}
    seed = params["seed"] + int(os.environ.get(SEED_ENV, "0"))
    try:
        sent = run_model(program, data, splits, drugs.values, proteins.values, seed, params["fit_timeout_s"])
        metrics: dict[str, Any] = {}
        for name, split in splits.items():
            prefix = "" if name == "standard" else "cold_drug_"
            metrics.update(affinity_metrics(split.test_y, predictions(sent, name, len(split.test_y)), prefix))
            fit_s = sent.get(f"{name}_fit_s")
            metrics[f"{prefix}fit_s"] = float(fit_s) if isinstance(fit_s, int | float) and math.isfinite(fit_s) else 0.0
    except FitFailed as exc:
        return {"valid": False, "combined_score": 0.0, "error": str(exc)}
    metrics.update(ANCHORS)
    metrics.update({
        "combined_score": metrics["ci"],
        "ci_minus_deepdta": metrics["ci"] - ANCHORS["deepdta_ci"],
        "drug_features": feature_width(drugs.values), "protein_features": feature_width(proteins.values),
        "invalid_drugs": len(drugs.problems), "odd_proteins": len(proteins.problems),
        "feature_cache_hits": cache.hits, "feature_cache_misses": cache.misses,
        "valid": True, "eval_time_s": time.monotonic() - start,
    })
    for kind, problems in (("drug", drugs.problems), ("protein", proteins.problems)):
        if problems:  # handled (a zero row), and said: how many, and the first
            first = min(problems)
            metrics[f"{kind}_problem"] = f"{len(problems)} {kind}(s), first {kind} {first}: {problems[first]}"
    return metrics


def feature_width(values: np.ndarray) -> int:
    return int(values.shape[1]) if values.ndim == 2 else 0
