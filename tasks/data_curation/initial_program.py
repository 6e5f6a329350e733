"""A cleaning strategy for pretraining data: one web page in, its clean text out (or None to drop the page).

`clean(doc)` receives a dict with `url`, `html` (the raw page), `text` (the naive full-page text, menus,
footers and all), `category` (news, blog, feature, non_english) and `id`. The starting point is the naive
text itself: every threshold below is at its least (a line needs one word, one character), so every line
with any text is kept. Raising them removes short menu and link lines, at the risk of cutting sentences.
"""

# EVOLVE-BLOCK-START
MIN_WORDS_PER_LINE = 1  # lines with fewer words are boilerplate (menus, buttons, bylines)
MIN_CHARS_PER_LINE = 1  # ... or fewer characters
SHORT_LINE_WORDS = 1  # lines with fewer words must end like a sentence to stay
DROP_PAGE_BELOW_WORDS = 1  # a page left with fewer words is dropped
SENTENCE_END = (".", "!", "?", '"', "\u201d", ":")


def keep_line(line: str) -> bool:
    words = line.split()
    if len(words) < MIN_WORDS_PER_LINE or len(line) < MIN_CHARS_PER_LINE:
        return False
    if len(words) < SHORT_LINE_WORDS and not line.endswith(SENTENCE_END):
        return False
    return True


def clean(doc: dict) -> str | None:
    lines = [line.strip() for line in doc["text"].splitlines()]
    kept = [line for line in lines if keep_line(line)]
    text = "\n".join(kept).strip()
    if len(text.split()) < DROP_PAGE_BELOW_WORDS:
        return None
    return text
# EVOLVE-BLOCK-END
