"""What a model's tokens cost: explicit prices (command line, task.yaml) over the price table shipped as data.

Why refuse unpriced models under a cost budget: a model without a price costs $0 in the ledger, so `--max-cost`
would never stop it. Prices are $ per 1M tokens, `(input, output)`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

PRICE_TABLE = Path(__file__).with_name("model_prices.yaml")
_SUFFIX = re.compile(r"^[-@](\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest|preview)$")

Price = tuple[float, float]


@functools.cache
def price_table() -> dict[str, Price]:
    """The shipped table, keys lower-cased."""
    raw = yaml.safe_load(PRICE_TABLE.read_text()) or {}
    return {str(name).lower(): _as_price(entry, f"{PRICE_TABLE.name}: {name}") for name, entry in raw["prices"].items()}


def _as_price(entry: object, where: str) -> Price:
    if isinstance(entry, Mapping):
        entry = (entry.get("in", 0.0), entry.get("out", 0.0))
    try:
        price_in, price_out = entry  # type: ignore[misc]
        price = (float(price_in), float(price_out))
    except (TypeError, ValueError):
        raise ValueError(f"{where}: a price is {{in: $/1M, out: $/1M}} or [in, out], got {entry!r}") from None
    if min(price) < 0:
        raise ValueError(f"{where}: prices must be >= 0, got {price}")
    return price


def _bare(model: str) -> str:
    """The model's own name: no provider prefix ("openai:"), no vendor path ("openai/")."""
    return model.split(":", 1)[-1].rsplit("/", 1)[-1].lower()


def table_price(model: str) -> Price | None:
    """The shipped price of `model`: its exact name, else the longest entry it extends by a date-like suffix."""
    table = price_table()
    name = _bare(model)
    if name in table:
        return table[name]
    matches = [key for key in table if name.startswith(key) and _SUFFIX.match(name[len(key) :])]
    return table[max(matches, key=len)] if matches else None


def find_price(model: str, explicit: Mapping[str, object] | None = None) -> Price | None:
    """An explicit price for `model` (by its full or bare name), else the table's, else None."""
    explicit = explicit or {}
    for key in (model, model.split(":", 1)[-1], _bare(model)):
        if key in explicit:
            return _as_price(explicit[key], f"price of {key}")
    return table_price(model)


def parse_price_options(options: Sequence[str]) -> dict[str, Price]:
    """`--price MODEL=IN/OUT` options (also `IN,OUT`) as a mapping; ValueError in one line when malformed."""
    prices: dict[str, Price] = {}
    for option in options:
        model, sep, value = option.rpartition("=")
        parts = re.split(r"[/,]", value)
        if not sep or not model.strip() or len(parts) != 2:
            raise ValueError(f"--price {option!r}: expected MODEL=IN/OUT in $ per 1M tokens, e.g. gpt-4o-mini=0.15/0.6")
        try:
            prices[model.strip()] = _as_price(parts, f"--price {option!r}")
        except ValueError as exc:
            raise ValueError(str(exc)) from None
    return prices
