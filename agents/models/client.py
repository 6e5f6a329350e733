"""The run's model client: one ensemble, retries, a cost budget, and every call recorded — or replayed.

Why one client per run: the budget, the ledger and the ensemble's statistics are run-wide, and parallel trials
share them (the client is thread-safe). Each attempt — a 429 that is retried as well as the success after it —
is one ledger row, so the ledger is the exact account of what was sent and paid. Replay answers from a recorded
ledger by (role, key, prompt hash, occurrence) without touching the network: a finished run can be re-run
bit for bit, and end-to-end tests run on recorded replies.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from agents.models.ensemble import EnsembleBandit
from agents.models.errors import BudgetExceeded, LLMCallError, ProposalError, ReplayMiss, one_line
from agents.models.ledger import CallLedger, CallRecord, prompt_hash, serialize_messages
from agents.models.specs import ModelSpec, make_chat_model

_KEYISH = re.compile(r"\b(sk|key|gsk|xai)-[A-Za-z0-9_\-*]{4,}")


@dataclass(frozen=True)
class Completion:
    """One model answer. `finish_reason` "length" means the text was cut at max_tokens: never use it as code."""

    text: str
    model: str
    input_tokens: int
    output_tokens: int
    cost: float
    latency_s: float
    finish_reason: str

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


def _is_transient(exc: BaseException) -> bool:
    """Rate limits, 5xx, timeouts, lost connections: worth another attempt."""
    if getattr(exc, "is_retryable", False):
        return True
    return isinstance(exc, openai.RateLimitError | openai.InternalServerError | openai.APIConnectionError)


def _retry_after(exc: BaseException | None) -> float:
    """Seconds the server asked us to wait (Retry-After header, capped at 60 s), else 0."""
    response = getattr(exc, "response", None)
    value = getattr(response, "headers", {}).get("retry-after") if response is not None else None
    try:
        return min(max(float(value), 0.0), 60.0) if value is not None else 0.0
    except ValueError:
        return 0.0


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content if b)
    return str(content)


def _finish_reason(metadata: dict) -> str:
    reason = metadata.get("finish_reason") or metadata.get("stop_reason") or ""
    return "length" if reason in ("length", "max_tokens") else str(reason)


class LLMClient:
    """The run's gateway to its models (see the module docstring).

    Args:
        specs: the ensemble (may be empty in replay mode).
        ledger: where every attempt is recorded (the run's database).
        max_cost, max_tokens: run-wide budget read from the ledger's totals; reaching it raises `BudgetExceeded`
            before the next call (parallel calls already in flight may overshoot by their own cost).
        replay_from: answer from this recorded ledger instead of the models (no network at all).
        models: ready chat models, one per spec (tests inject LangChain fake chat models here).
        seed: seeds the ensemble's tie-breaking.
        retry_wait_s: first backoff wait; it doubles per retry (with jitter), capped at 30 s; a server's
            Retry-After header is honoured (up to 60 s).
        reuse_recorded: answer a call already recorded in `ledger` (same role, key, prompt, occurrence) from the
            ledger instead of asking again — a run resumed after a crash gets the answers its interrupted trials
            already paid for, so resuming is deterministic and free.
    """

    def __init__(
        self,
        specs: Sequence[ModelSpec],
        ledger: CallLedger,
        *,
        max_cost: float | None = None,
        max_tokens: int | None = None,
        replay_from: CallLedger | None = None,
        models: Sequence[BaseChatModel] | None = None,
        seed: int = 0,
        retry_wait_s: float = 1.0,
        reuse_recorded: bool = True,
    ) -> None:
        self.specs = tuple(specs)
        if not self.specs and replay_from is None:
            raise ValueError("LLMClient needs at least one model spec (or replay_from)")
        names = [s.model for s in self.specs]
        if len(set(names)) != len(names):
            raise ValueError(f"a model is named twice in the ensemble: {', '.join(names)}")
        if models is not None and len(models) != len(self.specs):
            raise ValueError(f"{len(models)} chat models given for {len(self.specs)} specs")
        self.ledger = ledger
        self.max_cost = max_cost
        self.max_tokens = max_tokens
        self.replay_from = replay_from
        self.retry_wait_s = retry_wait_s
        self.reuse_recorded = reuse_recorded
        if replay_from is not None:
            self._models: dict[str, BaseChatModel] = {}
        elif models is not None:
            self._models = dict(zip(names, models, strict=True))
        else:
            self._models = {s.model: make_chat_model(s) for s in self.specs}
        self._by_name = {s.model: s for s in self.specs}
        self.bandit = EnsembleBandit(names or ["replay"], seed=seed)
        self._occurrences: Counter[tuple[str, str, str]] = Counter()
        self._pins: dict[str, str] = {}  # candidate -> the model that makes it
        self._lock = threading.Lock()
        self._secrets = self._known_secrets()

    def __repr__(self) -> str:
        mode = f", replay_from={self.replay_from!r}" if self.replay_from else ""
        return f"LLMClient(models={[s.model for s in self.specs]}, ledger={self.ledger!r}{mode})"

    # -- public ------------------------------------------------------------------------------------------------

    def complete(
        self, role: str, messages: Sequence[BaseMessage], *, key: str, candidate: str | None = None
    ) -> Completion:
        """One answer for `messages`. Raises BudgetExceeded, LLMCallError (ReplayMiss in replay mode).

        `candidate` (a trial key) pins the model: the ensemble picks one for a candidate's first call, and its
        retries, rewrites, repair, analysis and judging go to the same model. Without it every call is picked.
        """
        messages = list(messages)
        digest = prompt_hash(messages)
        with self._lock:
            occurrence = self._occurrences[(role, key, digest)]
            self._occurrences[(role, key, digest)] += 1
        call = _Call(role, key, digest, occurrence, serialize_messages(messages), candidate or "")
        if self.replay_from is not None:
            return self._replay(call)
        if self.reuse_recorded:
            found = self.ledger.lookup(role, key, digest, occurrence)
            if found is not None:
                if candidate:
                    with self._lock:
                        self._pins.setdefault(candidate, found.model)
                return _from_record(found)
        spec = self._by_name[self._model_for(candidate)]
        backoff = wait_exponential_jitter(multiplier=self.retry_wait_s, max=30.0, jitter=self.retry_wait_s)
        retrying = Retrying(
            stop=stop_after_attempt(spec.max_retries + 1),
            wait=lambda state: max(backoff(state), _retry_after(state.outcome.exception() if state.outcome else None)),
            retry=retry_if_exception(_is_transient),
            reraise=True,
        )
        try:
            return retrying(self._attempt, spec, call, messages)
        except BudgetExceeded:
            raise
        except Exception as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            reason = self._describe(exc, spec)
            raise LLMCallError(f"model {spec.model} failed after {attempts} attempt(s): {reason}") from None

    def reward(self, model: str, improvement: float, cost: float) -> None:
        """Credit `model` (a Completion's `model`) with the score improvement its answer brought, for `cost` $."""
        if self.replay_from is not None and model not in self._by_name:
            return
        self.bandit.reward(model, improvement, cost)

    def reward_candidate(self, candidate: str, improvement: float) -> str | None:
        """Credit the model that made `candidate` with its improvement, for what proposing it cost (every
        researcher and repair attempt). Returns the model credited, or None when no model proposed it."""
        rows = [r for r in self.ledger.for_candidate(candidate) if r.role in ("researcher", "repair")]
        answered = [r for r in rows if not r.error]
        if not answered:
            return None
        model = answered[0].model
        self.reward(model, improvement, sum(r.cost for r in rows))
        return model

    def _model_for(self, candidate: str | None) -> str:
        """The candidate's pinned model (recorded in the ledger by an earlier process, if any), else a new pick."""
        if not candidate:
            return self.bandit.choose()
        with self._lock:
            if candidate in self._pins:
                return self._pins[candidate]
        earlier = next((r.model for r in self.ledger.for_candidate(candidate) if r.model in self._by_name), None)
        with self._lock:
            if candidate not in self._pins:
                self._pins[candidate] = earlier or self.bandit.choose()
            return self._pins[candidate]

    # -- internals ---------------------------------------------------------------------------------------------

    def check_budget(self) -> None:
        if self.max_cost is None and self.max_tokens is None:
            return
        cost, tokens = self.ledger.totals()
        if self.max_cost is not None and cost >= self.max_cost:
            raise BudgetExceeded(f"model budget spent: ${cost:.4f} of ${self.max_cost:.4f}")
        if self.max_tokens is not None and tokens >= self.max_tokens:
            raise BudgetExceeded(f"model token budget spent: {tokens} of {self.max_tokens} tokens")

    def _attempt(self, spec: ModelSpec, call: _Call, messages: list[BaseMessage]) -> Completion:
        self.check_budget()
        model = self._models[spec.model]
        started = time.perf_counter()
        config = {"run_name": f"llm:{call.role}", "tags": [call.role], "metadata": {"key": call.key}}
        try:
            message = model.invoke(messages, config=config)  # type: ignore[arg-type]
        except Exception as exc:
            self._record(call, spec.model, "", "", 0, 0, 0.0, time.perf_counter() - started, self._describe(exc, spec))
            raise
        latency = time.perf_counter() - started
        usage = getattr(message, "usage_metadata", None) or {}
        tokens_in, tokens_out = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
        text = _text(message.content)
        finish = _finish_reason(message.response_metadata or {})
        cost = spec.cost(tokens_in, tokens_out)
        self._record(call, spec.model, text, finish, tokens_in, tokens_out, cost, latency, "")
        return Completion(text, spec.model, tokens_in, tokens_out, cost, latency, finish)

    def _replay(self, call: _Call) -> Completion:
        self.check_budget()
        assert self.replay_from is not None
        found = self.replay_from.lookup(call.role, call.key, call.digest, call.occurrence)
        if found is None:
            raise ReplayMiss(
                f"replay: no recorded {call.role} call for key {call.key!r} (prompt {call.digest[:12]}, "
                f"occurrence {call.occurrence}) in {self.replay_from.path}: the run diverged from the recording"
            )
        if self.replay_from.path.resolve() != self.ledger.path.resolve():
            self._record(
                call, found.model, found.response, found.finish_reason, found.input_tokens, found.output_tokens,
                found.cost, found.latency_s, "",
            )
        return _from_record(found)

    def _record(
        self, call: _Call, model: str, response: str, finish: str, tokens_in: int, tokens_out: int, cost: float,
        latency: float, error: str,
    ) -> None:
        self.ledger.record(
            CallRecord(
                call.role, call.key, call.digest, call.occurrence, model, call.prompt, response, finish, tokens_in,
                tokens_out, cost, latency, error, candidate=call.candidate,
            )
        )

    def _describe(self, exc: BaseException, spec: ModelSpec) -> str:
        """One line for people (and the ledger), with anything key-like masked."""
        if isinstance(exc, openai.RateLimitError):
            reason = "rate limited (HTTP 429)"
        elif isinstance(exc, openai.APITimeoutError):
            reason = f"timed out after {spec.timeout_s:g} s"
        elif isinstance(exc, openai.APIConnectionError):
            reason = f"cannot connect to {spec.endpoint}: {exc}"
        elif isinstance(exc, openai.APIStatusError):
            reason = f"HTTP {exc.status_code}: {exc.message}"
        elif isinstance(exc, json.JSONDecodeError):
            reason = f"unreadable reply (not JSON: {exc})"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        line = " ".join(reason.split())
        for secret in self._secrets:
            line = line.replace(secret, "***")
        return one_line(_KEYISH.sub(lambda m: f"{m.group(1)}-***", line))

    def _known_secrets(self) -> tuple[str, ...]:
        values = {os.environ.get(s.key_env, "") for s in self.specs}
        return tuple(v for v in values if len(v) >= 6)


def _from_record(found: CallRecord) -> Completion:
    return Completion(
        found.response, found.model, found.input_tokens, found.output_tokens, found.cost, found.latency_s,
        found.finish_reason,
    )


@dataclass(frozen=True)
class _Call:
    role: str
    key: str
    digest: str
    occurrence: int
    prompt: str
    candidate: str = ""


def ask(client: LLMClient, role: str, messages: list[BaseMessage], key: str, candidate: str = "") -> Completion:
    """One model call whose failure or truncation is a ProposalError (BudgetExceeded passes through)."""
    try:
        reply = client.complete(role, messages, key=key, candidate=candidate or None)
    except LLMCallError as exc:
        raise ProposalError(str(exc)) from None
    if reply.truncated:
        raise ProposalError(
            f"the reply of {reply.model} was truncated at its token limit (finish_reason=length, "
            f"{reply.output_tokens} tokens); raise max_tokens"
        )
    return reply
