"""The web pages of the data_curation task, read by the trusted evaluator only.

Source: the article-extraction benchmark (181 real pages with hand-labelled article bodies) under
`$ASI_EVOLVE_DATA_DIR/web_text/noisy/article_extraction_benchmark/`. Each page is (url, raw HTML, the naive
full-page text of `html-text`) plus its gold article text, which never leaves this process.

Categories come from the data itself (its URL and naive text, never the gold): `non_english` by the share of
common English words, `blog` (blogs, opinion columns, advice) and `news` (dated or news/story/article paths) by
the URL, `feature` for the rest (science, tech, health, reference and fact-check pages). The search / held-out
split is stratified by category with `datasets`, so each split holds every kind of page.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

DATA_ENV = "ASI_EVOLVE_DATA_DIR"
BENCHMARK = Path("web_text") / "noisy" / "article_extraction_benchmark"
GOLD_FILE, NAIVE_FILE, HTML_DIR = "ground-truth.json", "html-text.json", "html"
SOURCE = "github.com/scrapinghub/article-extraction-benchmark (see the data folder's README)"
CATEGORIES = ("news", "blog", "feature", "non_english")

_ENGLISH = frozenset("the of and to a in is that for it on with as was at by be this are from have you".split())
_BLOG = re.compile(r"(^|[./-])blogs?([./-]|$)|/opinion/|commentisfree|/columnists?/|/advice/|/editorials?/")
_NEWS = re.compile(r"(^|/)(19|20)\d\d([/-]|\d{6})|/(news|story|stories|article|articles)(/|-|$)")


class DataMissing(RuntimeError):
    """The benchmark's files are not where the task reads them; the message names them and their source."""


@dataclass(frozen=True)
class Page:
    """One page: what a candidate is given (id, url, html, text, category) and, kept here, its gold text."""

    id: str
    url: str
    html: str
    text: str
    gold: str
    category: str

    def inputs(self) -> dict[str, str]:
        """What the candidate's `clean(doc)` receives: everything but the gold text."""
        return {"id": self.id, "url": self.url, "html": self.html, "text": self.text, "category": self.category}


def benchmark_dir() -> Path:
    root = os.environ.get(DATA_ENV, "")
    folder = Path(root) / BENCHMARK if root else BENCHMARK
    wanted = [folder / GOLD_FILE, folder / NAIVE_FILE, folder / HTML_DIR]
    missing = [p for p in wanted if not p.exists()]
    if not root or missing:
        names = ", ".join(str(BENCHMARK / p.name) for p in (missing or wanted))
        raise DataMissing(f"web pages not found: set {DATA_ENV} to the data folder holding {names} ({SOURCE})")
    return folder


def english_share(text: str) -> float:
    words = re.findall(r"[^\W\d_]+", text.lower())
    return sum(w in _ENGLISH for w in words) / len(words) if words else 0.0


def categorize(url: str, text: str) -> str:
    """The page's category from its URL and naive text (see the module docstring)."""
    if english_share(text) < 0.1:
        return "non_english"
    parsed = urlparse(url)
    where = f"{parsed.netloc.lower()}{parsed.path.lower()}"
    if _BLOG.search(where):
        return "blog"
    if _NEWS.search(parsed.path.lower()):
        return "news"
    return "feature"


def load_pages() -> list[Page]:
    """Every page of the benchmark, in a fixed order (by id)."""
    folder = benchmark_dir()
    gold = json.loads((folder / GOLD_FILE).read_text())
    naive = json.loads((folder / NAIVE_FILE).read_text())["output"]
    pages = []
    for key in sorted(gold):
        html = gzip.decompress((folder / HTML_DIR / f"{key}.html.gz").read_bytes()).decode("utf-8", "replace")
        text = naive[key]["articleBody"]
        url = gold[key]["url"]
        pages.append(Page(key, url, html, text, gold[key]["articleBody"], categorize(url, text)))
    return pages


def split_pages(pages: list[Page], held_out: float, seed: int) -> tuple[list[Page], list[Page]]:
    """(search split, held-out split): a split of the pages stratified by category."""
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()
    rows = Dataset.from_dict({"index": list(range(len(pages))), "category": [p.category for p in pages]})
    rows = rows.class_encode_column("category")
    parts = rows.train_test_split(test_size=held_out, stratify_by_column="category", seed=seed)
    search = sorted(parts["train"]["index"])
    held = sorted(parts["test"]["index"])
    return [pages[i] for i in search], [pages[i] for i in held]
