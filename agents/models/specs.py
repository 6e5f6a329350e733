"""Which chat models a run uses, and how each becomes a LangChain chat model — API keys only from the environment.

A model is named "provider:model" ("openai:gpt-4o-mini", "deepseek:deepseek-chat") or, with a `base_url`, by
the plain name an OpenAI-compatible server knows it by (vLLM, llama.cpp, Ollama: "qwen2.5-coder:7b").
OpenAI-compatible providers with a public endpoint go through `ChatOpenAI` (no extra package); other providers
go through LangChain's `init_chat_model`, which needs that provider's integration package.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pydantic import SecretStr

from agents.models.errors import LLMUnavailable
from agents.models.pricing import find_price

if TYPE_CHECKING:  # LangChain and httpx load only when a model is made or probed, not for reading options
    from langchain_core.language_models import BaseChatModel

MODEL_ENV = "ASI_EVOLVE_MODEL"
BASE_URL_ENV = "ASI_EVOLVE_BASE_URL"
SERVER_KEY_ENV = "ASI_EVOLVE_API_KEY"  # key for a --base-url server; never the hosted providers' keys
PLACEHOLDER_KEY = "not-needed"


@dataclass(frozen=True)
class Provider:
    """A provider prefix: the env variable holding its key and, if OpenAI-compatible, its endpoint."""

    key_env: str
    base_url: str | None = None  # set: served through ChatOpenAI; None: through init_chat_model


PROVIDERS: dict[str, Provider] = {
    "openai": Provider("OPENAI_API_KEY", "https://api.openai.com/v1"),
    "deepseek": Provider("DEEPSEEK_API_KEY", "https://api.deepseek.com/v1"),
    "openrouter": Provider("OPENROUTER_API_KEY", "https://openrouter.ai/api/v1"),
    "together": Provider("TOGETHER_API_KEY", "https://api.together.xyz/v1"),
    "groq": Provider("GROQ_API_KEY", "https://api.groq.com/openai/v1"),
    "xai": Provider("XAI_API_KEY", "https://api.x.ai/v1"),
    "anthropic": Provider("ANTHROPIC_API_KEY"),
    "google_genai": Provider("GOOGLE_API_KEY"),
    "mistralai": Provider("MISTRAL_API_KEY"),
}


@dataclass(frozen=True)
class ModelSpec:
    """One model of the run's ensemble.

    Attributes:
        model: "provider:model", or a plain name served at `base_url`; also the model's name in the ledger.
        base_url: an OpenAI-compatible endpoint (".../v1"); overrides the provider's public one.
        api_key_env: the environment variable holding the key (default: the provider's, or ASI_EVOLVE_API_KEY for
            a base_url server; a base_url server whose variable is unset gets the placeholder key "not-needed").
        temperature, max_tokens: sampling settings (max_tokens None: the server's default).
        timeout_s: per-request timeout; max_retries: retries of rate limits, 5xx, timeouts and lost connections.
        price_in, price_out: $ per 1M input / output tokens.
        priced: whether a price is known (explicit or from the shipped table); an unpriced model costs $0 in the
            ledger, which a cost budget cannot see.
    """

    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float = 0.7
    max_tokens: int | None = None
    timeout_s: float = 120.0
    max_retries: int = 3
    price_in: float = 0.0
    price_out: float = 0.0
    priced: bool = False

    @property
    def provider(self) -> str | None:
        prefix, sep, _ = self.model.partition(":")
        return prefix if sep and prefix in PROVIDERS else None

    @property
    def model_name(self) -> str:
        """The name sent to the server (the provider prefix removed)."""
        return self.model.partition(":")[2] if self.provider else self.model

    @property
    def endpoint(self) -> str | None:
        """The OpenAI-compatible base URL this model is served at, if any."""
        if self.base_url:
            return self.base_url.rstrip("/")
        provider = PROVIDERS.get(self.provider or "")
        return provider.base_url if provider else None

    @property
    def key_env(self) -> str:
        if self.api_key_env:
            return self.api_key_env
        if self.base_url:
            return SERVER_KEY_ENV
        return PROVIDERS[self.provider].key_env if self.provider else SERVER_KEY_ENV

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.price_in + output_tokens * self.price_out) / 1e6


def _split(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def parse_model_args(
    models: Sequence[str],
    base_urls: Sequence[str],
    *,
    prices: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    **settings: object,
) -> list[ModelSpec]:
    """Turn repeated --model / --base-url options into specs; [] means no model (the offline loop).

    Each option may also hold a comma-separated list. Empty options fall back to $ASI_EVOLVE_MODEL and
    $ASI_EVOLVE_BASE_URL. One base URL applies to every model; otherwise there must be one per model.
    `prices` maps a model ("provider:model" or the bare name) to (in, out) or {"in": .., "out": ..} in $ per
    1M tokens; a model it does not name takes the shipped price table's (`agents.models.pricing`), if any.
    `settings` are further ModelSpec fields applied to every model (temperature, timeout_s, ...).
    """
    env = os.environ if env is None else env
    names = _split(models) or _split([env.get(MODEL_ENV, "")])
    urls = _split(base_urls) or _split([env.get(BASE_URL_ENV, "")])
    if not names:
        if urls:
            raise ValueError("--base-url given without --model: name the model the server serves")
        return []
    if len(urls) not in (0, 1, len(names)):
        raise ValueError(f"{len(urls)} base URLs for {len(names)} models: give one for all, or one per model")
    if len(set(names)) != len(names):
        raise ValueError(f"a model is named twice in {', '.join(names)}")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"base URL {url!r} must start with http:// or https://")
    specs = []
    for i, name in enumerate(names):
        url = urls[0] if len(urls) == 1 else (urls[i] if urls else None)
        spec = ModelSpec(name, base_url=url, **settings)  # type: ignore[arg-type]
        if url is None and spec.provider is None:
            known = ", ".join(sorted(PROVIDERS))
            raise ValueError(f"model {name!r} needs a provider prefix ({known}) or a --base-url")
        price = find_price(name, prices)
        if price is not None:
            spec = replace(spec, price_in=price[0], price_out=price[1], priced=True)
        specs.append(spec)
    return specs


def require_prices(specs: Sequence[ModelSpec], max_cost: float | None) -> None:
    """Refuse a cost budget that could not stop: every model must have a price. ValueError in one line."""
    unpriced = [s.model for s in specs if not s.priced]
    if max_cost and unpriced:
        raise ValueError(
            f"--max-cost {max_cost:g} cannot be enforced: no price is known for {', '.join(unpriced)}; give "
            f"--price {unpriced[0]}=IN/OUT ($ per 1M tokens; 0/0 for a free local server) or `prices` in "
            "task.yaml, or pass --allow-unpriced to count that model as free"
        )


def _api_key(spec: ModelSpec) -> str:
    key = os.environ.get(spec.key_env, "").strip()
    if key:
        return key
    if spec.base_url:
        return PLACEHOLDER_KEY
    raise LLMUnavailable(f"model {spec.model}: set ${spec.key_env} in the environment or in ./.env")


def make_chat_model(spec: ModelSpec) -> BaseChatModel:
    """A LangChain chat model for the spec. Retries are the LLMClient's (so each attempt is recorded): 0 here."""
    if spec.endpoint is None and spec.provider is None:
        raise LLMUnavailable(f"model {spec.model!r} needs a provider prefix ({', '.join(PROVIDERS)}) or a base URL")
    api_key = SecretStr(_api_key(spec))
    common: dict[str, object] = {"temperature": spec.temperature, "timeout": spec.timeout_s, "max_retries": 0}
    if spec.max_tokens is not None:
        common["max_tokens"] = spec.max_tokens
    if spec.endpoint is not None:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(model=spec.model_name, base_url=spec.endpoint, api_key=api_key, **common)
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(spec.model, api_key=api_key, **common)
    except ImportError as exc:
        package = f"langchain-{spec.provider or 'openai'}".replace("_", "-")
        raise LLMUnavailable(f"model {spec.model}: install the {package} package ({exc})") from None


def probe(spec: ModelSpec, timeout_s: float = 5.0) -> None:
    """Cheap start-up check: GET {endpoint}/models (no tokens spent); raises LLMUnavailable in one line."""
    import httpx

    key = _api_key(spec)
    url = spec.endpoint
    if url is None:
        return  # not OpenAI-compatible: the key's presence is all we can check without spending tokens
    try:
        response = httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {key}"}, timeout=timeout_s)
    except httpx.TimeoutException:
        raise LLMUnavailable(f"model server {url} did not answer within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise LLMUnavailable(f"model server {url} is unreachable ({type(exc).__name__}): is it running?") from None
    if response.status_code in (401, 403):
        raise LLMUnavailable(
            f"model server {url} rejected the API key (HTTP {response.status_code}): check ${spec.key_env}"
        )
    if response.status_code >= 500:
        raise LLMUnavailable(f"model server {url} is failing (HTTP {response.status_code} on GET /models)")


def probe_all(specs: Sequence[ModelSpec]) -> None:
    """Start-up probe of every model server the specs name, each (endpoint, key) once; LLMUnavailable in one line."""
    seen: set[tuple[str | None, str]] = set()
    for spec in specs:
        if (spec.endpoint, spec.key_env) not in seen:
            seen.add((spec.endpoint, spec.key_env))
            probe(spec)
