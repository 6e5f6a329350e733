"""Reference: Morgan fingerprints and protein 3-mer composition, each compressed by PCA, with gradient-boosted
trees on the pair (in the spirit of SimBoost, He et al. 2017, and of KronRLS-style feature pairs).

The fingerprints of the 68 drugs and the 3-mer profiles of the 442 kinases are compressed to a few dozen
principal components (there are only 68 distinct drugs), and histogram gradient boosting learns the
interactions between the two sides.
"""

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingRegressor

# EVOLVE-BLOCK-START
DRUG_FEATURES = {"morgan": {"radius": 2, "n_bits": 1024}}
PROTEIN_FEATURES = {"kmer": {"k": 3, "n_dims": 512}}
DRUG_COMPONENTS = 16
PROTEIN_COMPONENTS = 32


def pair_features(model: dict, pairs: np.ndarray) -> np.ndarray:
    return np.hstack([model["drug_z"][pairs[:, 0]], model["protein_z"][pairs[:, 1]]]).astype(np.float32)


def fit(train: dict, seed: int) -> dict:
    drug_z = PCA(min(DRUG_COMPONENTS, len(train["drug_x"])), random_state=seed).fit_transform(train["drug_x"])
    protein_z = PCA(PROTEIN_COMPONENTS, random_state=seed).fit_transform(train["protein_x"])
    model = {"drug_z": drug_z, "protein_z": protein_z}
    trees = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.1, max_leaf_nodes=63, random_state=seed)
    model["trees"] = trees.fit(pair_features(model, train["pairs"]), train["y"])
    return model


def predict(model: dict, test: dict) -> np.ndarray:
    return model["trees"].predict(pair_features(model, test["pairs"]))
# EVOLVE-BLOCK-END
