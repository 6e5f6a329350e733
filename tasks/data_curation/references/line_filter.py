"""Reference: heuristic line filtering of the naive text, with datatrove's C4 line rules and Gopher page rules.

Lines are kept when they look like prose: enough words, a sentence ending, few navigation words. Then the
C4 rules (Raffel et al. 2020, as datatrove implements them) drop lines without terminal punctuation, with
"javascript" or cookie notices, and the Gopher quality rules (Rae et al. 2021) drop a page whose remaining
text is not natural language (too few words, too many symbols or non-alphabetic words, no stop words).
"""

from datatrove.data import Document
from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter

# EVOLVE-BLOCK-START
MIN_WORDS = 6
NAV_WORDS = frozenset({"subscribe", "sign", "login", "log", "menu", "share", "newsletter", "advertisement",
                       "cookie", "cookies", "privacy", "terms", "related", "comments", "follow", "home"})
C4_LINES = C4QualityFilter(filter_no_terminal_punct=True, min_num_sentences=1, min_words_per_line=3,
                           filter_lorem_ipsum=False, filter_curly_bracket=False)
GOPHER = GopherQualityFilter(min_doc_words=30)


def prose(line: str) -> bool:
    words = line.split()
    if len(words) < MIN_WORDS:
        return False
    nav = sum(w.strip(".,:;!?|").lower() in NAV_WORDS for w in words)
    return nav / len(words) < 0.2


def clean(doc: dict) -> str | None:
    lines = [line.strip() for line in doc["text"].splitlines()]
    text = "\n".join(line for line in lines if prose(line))
    if doc["category"] == "non_english":  # the English rules below would drop these pages
        return text or None
    page = Document(text=text, id=doc["id"])
    if C4_LINES.filter(page) is not True:  # C4's rules rewrite page.text line by line
        return text or None
    if GOPHER.filter(page) is not True:
        return None
    return page.text or None
# EVOLVE-BLOCK-END
