"""A drug–target affinity model: predict the pKd of a (drug, kinase) pair from features of both.

`DRUG_FEATURES` and `PROTEIN_FEATURES` name the features the evaluator computes with RDKit and sequence
composition (cached, so unchanged choices cost nothing). `fit(train, seed)` gets a dict with `drug_x`
(drugs x drug features), `protein_x` (proteins x protein features), `pairs` (n x 2: drug index, protein
index), `y` (their pKd), `smiles` and `sequences`; `predict(model, test)` gets the same without `y` and
returns one pKd per test pair. The start: a ridge regression on a few principal components of each side and
their products.
"""

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge

# EVOLVE-BLOCK-START
DRUG_FEATURES = {"morgan": {"radius": 2, "n_bits": 1024}}
PROTEIN_FEATURES = {"aac": {}, "dipeptide": {}}
DRUG_COMPONENTS = 8
PROTEIN_COMPONENTS = 8
ALPHA = 10.0


def pair_features(model: dict, pairs: np.ndarray) -> np.ndarray:
    drug = model["drug_z"][pairs[:, 0]]
    protein = model["protein_z"][pairs[:, 1]]
    products = (drug[:, :, None] * protein[:, None, :]).reshape(len(pairs), -1)
    return np.hstack([drug, protein, products])


def fit(train: dict, seed: int) -> dict:
    drug_pca = PCA(min(DRUG_COMPONENTS, len(train["drug_x"])), random_state=seed).fit(train["drug_x"])
    protein_pca = PCA(min(PROTEIN_COMPONENTS, len(train["protein_x"])), random_state=seed).fit(train["protein_x"])
    model = {"drug_z": drug_pca.transform(train["drug_x"]), "protein_z": protein_pca.transform(train["protein_x"])}
    model["ridge"] = Ridge(alpha=ALPHA).fit(pair_features(model, train["pairs"]), train["y"])
    return model


def predict(model: dict, test: dict) -> np.ndarray:
    return model["ridge"].predict(pair_features(model, test["pairs"]))
# EVOLVE-BLOCK-END
