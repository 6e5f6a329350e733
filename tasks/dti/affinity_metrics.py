"""The figures drug–target affinity papers report on Davis, computed by the trusted evaluator.

- ci: concordance index (Gönen & Heller 2005, as DeepDTA uses it): over every pair of test pairs with
  different true pKd, the share ordered the same way by the prediction (ties in the prediction count half);
- mse on pKd, and mse_bound on the pairs with pKd > 5 (70% of Davis sits at the assay cap pKd = 5, where a
  constant predictor already looks good);
- spearman rank correlation;
- auroc and auprc of the prediction as a score for binding, binding meaning pKd >= 7.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, roc_auc_score

BINDING_PKD = 7.0


def concordance_index(y: np.ndarray, pred: np.ndarray, chunk: int = 1024) -> float:
    order = np.argsort(y, kind="stable")
    y, pred = y[order], pred[order]
    concordant = total = 0.0
    for start in range(0, len(y), chunk):
        above = y[start:start + chunk, None] > y[None, :]  # the row's true value is larger
        diff = pred[start:start + chunk, None] - pred[None, :]
        concordant += float(((diff > 0) & above).sum()) + 0.5 * float(((diff == 0) & above).sum())
        total += float(above.sum())
    return concordant / total if total else 0.5


def affinity_metrics(y: np.ndarray, pred: np.ndarray, prefix: str = "") -> dict[str, float]:
    binding = y >= BINDING_PKD
    bound = y > 5.0
    both = bool(binding.any() and (~binding).any())
    return {
        f"{prefix}ci": concordance_index(y, pred),
        f"{prefix}mse": float(np.mean((pred - y) ** 2)),
        f"{prefix}mse_bound": float(np.mean((pred[bound] - y[bound]) ** 2)) if bound.any() else 0.0,
        f"{prefix}spearman": float(spearmanr(y, pred).statistic) if np.ptp(pred) > 0 else 0.0,
        f"{prefix}auroc": float(roc_auc_score(binding, pred)) if both else 0.5,
        f"{prefix}auprc": float(average_precision_score(binding, pred)) if both else float(binding.mean()),
        f"{prefix}test_pairs": float(len(y)),
    }
