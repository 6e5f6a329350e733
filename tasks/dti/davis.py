"""The Davis kinase binding data (DeepDTA's preprocessing and folds), read by the trusted evaluator only.

`$ASI_EVOLVE_DATA_DIR/dti/davis/`: `drugs.csv` (68 SMILES), `proteins.csv` (442 kinase sequences) and
`pairs.csv` (every drug x kinase pair with its pKd = 9 - log10(Kd in nM), and DeepDTA's train/test split).
Two evaluation splits:
- standard: DeepDTA's test fold (5,010 pairs) against a model fit on its training folds (25,046 pairs);
- cold drug: a fixed share of the drugs held out entirely; the model is fit on every pair of the other drugs
  and predicts the held-out drugs' pairs, so it must generalise to molecules it has never seen.
"""

from __future__ import annotations

import csv
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_ENV = "ASI_EVOLVE_DATA_DIR"
FOLDER = Path("dti") / "davis"
FILES = ("drugs.csv", "proteins.csv", "pairs.csv")
SOURCE = "github.com/hkmztrk/DeepDTA, data/davis (see the data folder's README)"


class DataMissing(RuntimeError):
    """The Davis files are not where the task reads them; the message names them and their source."""


@dataclass(frozen=True)
class Split:
    """Pairs (drug index, protein index) to fit on, with their pKd, and pairs to predict, with theirs (kept here)."""

    train_pairs: np.ndarray
    train_y: np.ndarray
    test_pairs: np.ndarray
    test_y: np.ndarray


@dataclass(frozen=True)
class Davis:
    smiles: list[str]
    sequences: list[str]
    pairs: np.ndarray  # (n, 2) drug index, protein index
    pkd: np.ndarray
    is_test: np.ndarray  # DeepDTA's test fold

    def standard(self) -> Split:
        train, test = ~self.is_test, self.is_test
        return Split(self.pairs[train], self.pkd[train], self.pairs[test], self.pkd[test])

    def cold_drug(self, share: float, seed: int) -> Split:
        drugs = list(range(len(self.smiles)))
        random.Random(seed).shuffle(drugs)
        held = np.zeros(len(self.smiles), dtype=bool)
        held[drugs[:max(1, round(share * len(drugs)))]] = True
        test = held[self.pairs[:, 0]]
        return Split(self.pairs[~test], self.pkd[~test], self.pairs[test], self.pkd[test])


def data_dir() -> Path:
    root = os.environ.get(DATA_ENV, "")
    folder = Path(root) / FOLDER
    missing = [name for name in FILES if not root or not (folder / name).is_file()]
    if missing:
        names = ", ".join(str(FOLDER / name) for name in missing)
        raise DataMissing(f"Davis data not found: set {DATA_ENV} to the data folder holding {names} ({SOURCE})")
    return folder


def load_davis() -> Davis:
    folder = data_dir()
    with (folder / "drugs.csv").open() as handle:
        drugs = sorted(csv.DictReader(handle), key=lambda r: int(r["drug_idx"]))
    with (folder / "proteins.csv").open() as handle:
        proteins = sorted(csv.DictReader(handle), key=lambda r: int(r["protein_idx"]))
    with (folder / "pairs.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    pairs = np.array([[int(r["drug_idx"]), int(r["protein_idx"])] for r in rows], dtype=np.int64)
    if len(pairs) and (pairs[:, 0].max() >= len(drugs) or pairs[:, 1].max() >= len(proteins)):
        raise DataMissing(f"{folder / 'pairs.csv'} names drugs or proteins that drugs.csv / proteins.csv lack")
    return Davis(smiles=[r["smiles_canonical"] for r in drugs], sequences=[r["sequence"] for r in proteins],
                 pairs=pairs, pkd=np.array([float(r["pkd"]) for r in rows]),
                 is_test=np.array([r["split"] == "test" for r in rows]))
