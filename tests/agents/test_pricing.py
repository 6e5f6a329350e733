"""Model prices: the shipped table, explicit prices over it, and a cost budget that refuses unpriced models."""

from __future__ import annotations

import pytest

from agents.models.pricing import find_price, parse_price_options, price_table, table_price
from agents.models.specs import parse_model_args, require_prices


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("openai:gpt-4o-mini", (0.15, 0.60)),
        ("openai:gpt-4o", (2.50, 10.0)),
        ("openrouter:openai/gpt-4o-mini", (0.15, 0.60)),
        ("anthropic:claude-sonnet-4-20250514", (3.0, 15.0)),
        ("anthropic:claude-3-5-haiku-latest", (0.80, 4.0)),
        ("deepseek:deepseek-chat", (0.28, 0.42)),
        ("together:meta-llama/Llama-3.3-70B-Instruct-Turbo", (0.88, 0.88)),
        ("openai:gpt-4o-audio-preview", None),  # another model, not a dated gpt-4o
        ("qwen2.5-coder:7b", None),
    ],
)
def test_the_shipped_table(model: str, price: tuple[float, float] | None) -> None:
    assert table_price(model) == price


def test_the_table_is_well_formed() -> None:
    table = price_table()
    assert len(table) >= 30 and all(0 <= p_in and 0 <= p_out for p_in, p_out in table.values())


def test_explicit_prices_win_over_the_table() -> None:
    assert find_price("openai:gpt-4o-mini", {"gpt-4o-mini": {"in": 1, "out": 2}}) == (1.0, 2.0)
    assert find_price("openai:gpt-4o-mini", {"openai:gpt-4o-mini": [3, 4]}) == (3.0, 4.0)
    assert find_price("local", {"local": {"in": 0, "out": 0}}) == (0.0, 0.0)


def test_price_options() -> None:
    prices = parse_price_options(["qwen=0/0", "openai:gpt-4o=2.5,10"])
    assert prices == {"qwen": (0.0, 0.0), "openai:gpt-4o": (2.5, 10.0)}
    for bad in ("qwen", "qwen=1", "=1/2", "qwen=a/b", "qwen=-1/2"):
        with pytest.raises(ValueError, match="--price") as info:
            parse_price_options([bad])
        assert "\n" not in str(info.value)


def test_a_cost_budget_refuses_models_without_a_price() -> None:
    specs = parse_model_args(["openai:gpt-4o-mini", "qwen"], ["http://127.0.0.1:9/v1"], env={})
    assert [(s.model, s.priced) for s in specs] == [("openai:gpt-4o-mini", True), ("qwen", False)]
    with pytest.raises(ValueError, match=r"no price is known for qwen; give --price qwen=IN/OUT .* --allow-unpriced"):
        require_prices(specs, 2.5)
    require_prices(specs, None)  # no budget: nothing to enforce
    priced = parse_model_args(["qwen"], ["http://127.0.0.1:9/v1"], prices={"qwen": (0, 0)}, env={})
    require_prices(priced, 2.5)
