"""Reference: the naive full-page text as it is (what `html-text` extracts: article, menus, footers and all)."""


def clean(doc: dict) -> str | None:
    return doc["text"]
