"""Token-level precision, recall and F1 of cleaned text against gold article text, per page and per group.

Tokens are lower-cased word runs (`\\w+`, so any script counts), compared as bags: a kept token is correct as
often as it occurs in the gold text. Precision is the share of the kept tokens that are article text
(boilerplate removed), recall the share of the article's tokens kept (content kept). A dropped or empty page
scores 0 on all three: every page of the benchmark has an article, so dropping one loses it. A group's figures
are means over its pages (macro), so long pages do not drown short ones.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class PageScore:
    precision: float
    recall: float
    f1: float
    dropped: bool
    kept_chars: int


def score_page(cleaned: str | None, gold: str) -> PageScore:
    if cleaned is None:
        return PageScore(0.0, 0.0, 0.0, True, 0)
    kept, truth = tokens(cleaned), tokens(gold)
    if not kept or not truth:
        return PageScore(0.0, 0.0, 0.0, False, len(cleaned))
    overlap = sum((Counter(kept) & Counter(truth)).values())
    precision, recall = overlap / len(kept), overlap / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if overlap else 0.0
    return PageScore(precision, recall, f1, False, len(cleaned))


def summarize(scores: Sequence[PageScore], prefix: str = "") -> dict[str, float]:
    """Macro precision / recall / F1 and the drop rate of a group of pages, keys prefixed with `prefix`."""
    n = len(scores)
    if not n:
        return {}
    return {
        f"{prefix}precision": sum(s.precision for s in scores) / n,
        f"{prefix}recall": sum(s.recall for s in scores) / n,
        f"{prefix}f1": sum(s.f1 for s in scores) / n,
        f"{prefix}drop_rate": sum(s.dropped for s in scores) / n,
    }


def by_category(scores: Sequence[PageScore], categories: Iterable[str], prefix: str = "") -> dict[str, float]:
    """F1, precision and recall per category: `{prefix}f1_<category>`, ..."""
    groups: dict[str, list[PageScore]] = {}
    for score, category in zip(scores, categories, strict=True):
        groups.setdefault(category, []).append(score)
    out: dict[str, float] = {}
    for category, group in sorted(groups.items()):
        summary = summarize(group)
        for metric in ("f1", "precision", "recall"):
            out[f"{prefix}{metric}_{category}"] = summary[metric]
        out[f"{prefix}pages_{category}"] = len(group)
    return out
