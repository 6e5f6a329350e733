"""Reference: trafilatura's main-text extraction with its default settings, on the raw HTML.

Trafilatura (Barbaresi 2021) scores the page's DOM blocks by text and link density, removes boilerplate
elements and falls back to readability-style and justext-style extractors when its own pass finds too little.
A page it cannot extract (None) is dropped.
"""

import trafilatura

# EVOLVE-BLOCK-START


def clean(doc: dict) -> str | None:
    return trafilatura.extract(doc["html"], url=doc["url"])
# EVOLVE-BLOCK-END
