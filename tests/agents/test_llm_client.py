"""LLMClient against a real local OpenAI-compatible server: retries, timeouts, costs, budget, keys, ensemble."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_openai import ChatOpenAI

from agents.models.client import LLMClient
from agents.models.errors import BudgetExceeded, LLMCallError, LLMUnavailable, ReplayMiss
from agents.models.ledger import CallLedger, prompt_hash
from agents.models.specs import ModelSpec, make_chat_model, parse_model_args, probe_all
from tests.support.openai_server import FakeOpenAIServer, Reply, garbage, rate_limited, server_error, slow

SECRET = "sk-test-SECRET-0123456789abcdef"
PROMPT = [HumanMessage("Propose a change.")]


@pytest.fixture(autouse=True)
def _server_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASI_EVOLVE_API_KEY", SECRET)


def make_client(server: FakeOpenAIServer, tmp_path: Path, *, names: tuple[str, ...] = ("fake-model",), **kwargs):
    spec_fields = {k: kwargs.pop(k) for k in ("timeout_s", "max_retries", "price_in", "price_out") if k in kwargs}
    specs = [ModelSpec(name, base_url=server.base_url, **spec_fields) for name in names]
    return LLMClient(specs, CallLedger(tmp_path / "run.db"), retry_wait_s=0.01, **kwargs)


def test_reply_usage_and_cost_are_recorded_from_the_servers_usage(tmp_path: Path) -> None:
    reply = Reply(content="NAME: x", prompt_tokens=1200, completion_tokens=300)
    with FakeOpenAIServer([reply], api_key=SECRET) as server:
        client = make_client(server, tmp_path, price_in=2.5, price_out=10.0)
        done = client.complete("researcher", PROMPT, key="g1.0")
    assert (done.text, done.model, done.input_tokens, done.output_tokens) == ("NAME: x", "fake-model", 1200, 300)
    assert done.cost == pytest.approx((1200 * 2.5 + 300 * 10.0) / 1e6)
    assert done.finish_reason == "stop" and not done.truncated
    assert client.ledger.totals() == (pytest.approx(0.006), 1500)
    [row] = client.ledger.rows()
    assert (row.role, row.key, row.occurrence, row.error, row.response) == ("researcher", "g1.0", 0, "", "NAME: x")
    assert row.prompt_hash == prompt_hash(PROMPT) and json.loads(row.prompt)[0]["content"] == "Propose a change."
    [request] = server.chat_requests()
    assert request.header("Authorization") == f"Bearer {SECRET}"
    assert request.body["model"] == "fake-model" and request.prompt_text() == "Propose a change."


@pytest.mark.parametrize("failure", [rate_limited(), server_error()], ids=["429", "500"])
def test_a_transient_failure_is_retried_and_each_attempt_is_a_ledger_row(tmp_path: Path, failure: Reply) -> None:
    with FakeOpenAIServer([failure, "the answer"]) as server:
        client = make_client(server, tmp_path)
        done = client.complete("researcher", PROMPT, key="k")
        assert len(server.chat_requests()) == 2
    assert done.text == "the answer"
    failed, ok = client.ledger.rows()
    assert f"HTTP {failure.status}" in failed.error or "429" in failed.error
    assert failed.response == "" and failed.occurrence == ok.occurrence == 0
    assert ok.error == "" and ok.response == "the answer"
    assert client.ledger.lookup("researcher", "k", prompt_hash(PROMPT), 0).id == ok.id


def test_a_retry_after_header_is_honoured(tmp_path: Path) -> None:
    with FakeOpenAIServer([rate_limited(retry_after=0.4), "the answer"]) as server:
        client = make_client(server, tmp_path)
        started = time.perf_counter()
        assert client.complete("researcher", PROMPT, key="k").text == "the answer"
    assert time.perf_counter() - started >= 0.4


def test_parallel_calls_share_one_client(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply_fn=lambda body: slow(f"reply to {body['messages'][0]['content']}", 0.05)) as server:
        client = make_client(server, tmp_path)
        prompts = [[HumanMessage(f"p{i % 2}")] for i in range(8)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            done = list(pool.map(lambda p: client.complete("researcher", p, key="same"), prompts))
    assert [d.text for d in done] == [f"reply to p{i % 2}" for i in range(8)]
    rows = client.ledger.rows()
    assert len(rows) == 8 and all(not r.error for r in rows)
    for prompt in ("p0", "p1"):  # identical calls get distinct occurrence numbers: each one can be replayed
        assert sorted(r.occurrence for r in rows if json.loads(r.prompt)[0]["content"] == prompt) == [0, 1, 2, 3]


def test_retries_stop_after_max_retries_with_one_line_reason(tmp_path: Path) -> None:
    with FakeOpenAIServer([server_error()] * 3) as server:
        client = make_client(server, tmp_path, max_retries=2)
        with pytest.raises(LLMCallError, match=r"failed after 3 attempt\(s\): HTTP 500") as caught:
            client.complete("researcher", PROMPT, key="k")
    assert "\n" not in str(caught.value) and len(client.ledger.rows()) == 3


def test_a_reply_slower_than_the_timeout_is_retried_then_reported(tmp_path: Path) -> None:
    with FakeOpenAIServer([slow("late", 3.0), "in time"]) as server:
        client = make_client(server, tmp_path, timeout_s=1.0, max_retries=1)
        assert client.complete("researcher", PROMPT, key="k").text == "in time"
    assert client.ledger.rows()[0].error == "timed out after 1 s"
    with FakeOpenAIServer([slow("late", 3.0), slow("late", 3.0)]) as server:
        client = make_client(server, tmp_path, timeout_s=1.0, max_retries=1)
        with pytest.raises(LLMCallError, match=r"failed after 2 attempt\(s\): timed out after 1 s"):
            client.complete("researcher", PROMPT, key="k2")


def test_a_body_that_is_not_json_fails_at_once(tmp_path: Path) -> None:
    with FakeOpenAIServer([garbage(), "never asked"]) as server:
        client = make_client(server, tmp_path)
        with pytest.raises(LLMCallError, match="unreadable reply"):
            client.complete("researcher", PROMPT, key="k")
        assert len(server.chat_requests()) == 1


def test_budget_is_checked_before_the_call(tmp_path: Path) -> None:
    replies = [Reply(content="a", prompt_tokens=1000, completion_tokens=1000)] * 2
    with FakeOpenAIServer(replies) as server:
        client = make_client(server, tmp_path, price_in=3.0, price_out=3.0, max_cost=0.005)
        client.complete("researcher", PROMPT, key="k1")  # $0.006: over budget after, not before
        with pytest.raises(BudgetExceeded, match=r"\$0.0060 of \$0.0050"):
            client.complete("researcher", PROMPT, key="k2")
        assert len(server.chat_requests()) == 1
    with FakeOpenAIServer(replies) as server:  # the same run database: the budget spans the run
        tokens = LLMClient(
            [ModelSpec("fake-model", base_url=server.base_url)], CallLedger(tmp_path / "run.db"), max_tokens=2000
        )
        with pytest.raises(BudgetExceeded, match="2000 of 2000 tokens"):
            tokens.complete("researcher", PROMPT, key="k3")
        assert server.chat_requests() == []


def test_replay_answers_from_the_ledger_without_any_server(tmp_path: Path) -> None:
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    with FakeOpenAIServer([rate_limited(), "one", "two", "three"]) as server:
        spec = ModelSpec("fake-model", base_url=server.base_url)
        recorded = LLMClient([spec], CallLedger(first_dir / "run.db"), retry_wait_s=0.01)
        answers = [recorded.complete("researcher", PROMPT, key="k").text for _ in range(2)]
        answers.append(recorded.complete("analyzer", PROMPT, key="k").text)
    assert answers == ["one", "two", "three"]
    replay = LLMClient([spec], CallLedger(second_dir / "run.db"), replay_from=CallLedger(first_dir / "run.db"))
    replayed = [replay.complete("researcher", PROMPT, key="k").text for _ in range(2)]
    replayed.append(replay.complete("analyzer", PROMPT, key="k").text)
    assert replayed == answers
    assert [r.response for r in replay.ledger.rows()] == answers
    with pytest.raises(ReplayMiss, match="occurrence 2"):
        replay.complete("researcher", PROMPT, key="k")


def test_a_resumed_run_reuses_answers_already_recorded(tmp_path: Path) -> None:
    with FakeOpenAIServer(["before the crash", "second ask"]) as server:
        make_client(server, tmp_path).complete("researcher", PROMPT, key="g4.1")
        resumed = make_client(server, tmp_path)  # a new process: occurrence counters start again
        assert resumed.complete("researcher", PROMPT, key="g4.1").text == "before the crash"
        assert resumed.complete("researcher", PROMPT, key="g4.1").text == "second ask"  # occurrence 1: new call
        assert len(server.chat_requests()) == 2 and len(resumed.ledger.rows()) == 2
    with FakeOpenAIServer(["fresh"]) as server:
        fresh = make_client(server, tmp_path, reuse_recorded=False)
        assert fresh.complete("researcher", PROMPT, key="g4.1").text == "fresh"


def test_api_keys_never_reach_the_ledger_or_reprs(tmp_path: Path) -> None:
    with FakeOpenAIServer(["fine"], api_key=SECRET) as server:
        client = make_client(server, tmp_path)
        client.complete("researcher", PROMPT, key="k")
    with FakeOpenAIServer(["unused"], api_key="sk-some-other-key-000000") as server:
        rejected = make_client(server, tmp_path)
        with pytest.raises(LLMCallError, match="HTTP 401") as caught:
            rejected.complete("researcher", PROMPT, key="k2")
        chat = rejected._models["fake-model"]
    rows = client.ledger.rows()
    assert len(rows) == 2 and rows[1].error.startswith("HTTP 401")
    texts = [json.dumps(asdict(r)) for r in rows] + [repr(client), repr(client.specs), repr(chat), str(caught.value)]
    assert all(SECRET not in text for text in texts)
    raw = (tmp_path / "run.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("run.db-*"))
    assert SECRET.encode() not in raw


def test_ensemble_prefers_the_model_with_more_improvement_per_dollar(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply_fn=lambda body: Reply(content="ok", prompt_tokens=100, completion_tokens=100)) as s:
        specs = [
            ModelSpec("cheap", base_url=s.base_url, price_in=1.0, price_out=1.0),
            ModelSpec("pricey", base_url=s.base_url, price_in=10.0, price_out=10.0),
        ]
        client = LLMClient(specs, CallLedger(tmp_path / "run.db"), seed=1)
        first = [client.complete("researcher", PROMPT, key=f"t{i}", candidate=f"t{i}") for i in range(2)]
        assert sorted(c.model for c in first) == ["cheap", "pricey"]  # every model is tried once
        for done in first:  # both improved the score by the same amount; "pricey" paid ten times more for it
            assert client.reward_candidate(f"t{first.index(done)}", 0.5) == done.model
        for i in range(20):
            client.complete("researcher", PROMPT, key=f"u{i}")
        chosen = [r.body["model"] for r in s.chat_requests()[2:]]
    assert chosen.count("cheap") >= 18
    stats = client.bandit.snapshot()
    assert stats["pricey"]["cost"] == pytest.approx(10 * stats["cheap"]["cost"])


def test_fake_chat_models_can_be_injected(tmp_path: Path) -> None:
    fake = FakeMessagesListChatModel(responses=[AIMessage("scripted")])
    client = LLMClient([ModelSpec("fake")], CallLedger(tmp_path / "run.db"), models=[fake])
    done = client.complete("judge", PROMPT, key="k")
    assert (done.text, done.cost, done.finish_reason) == ("scripted", 0.0, "")
    assert client.ledger.rows()[0].response == "scripted"


def test_probing_the_servers_is_one_line(tmp_path: Path) -> None:
    with FakeOpenAIServer([], api_key=SECRET) as server:
        probe_all(make_client(server, tmp_path).specs)
        assert [r.path for r in server.requests] == ["/v1/models"]
    with FakeOpenAIServer([], api_key="sk-another-key-111111") as server:
        with pytest.raises(LLMUnavailable, match=r"rejected the API key \(HTTP 401\): check \$ASI_EVOLVE_API_KEY"):
            probe_all(make_client(server, tmp_path).specs)
    server = FakeOpenAIServer().start()
    client = make_client(server, tmp_path)
    server.stop()
    with pytest.raises(LLMUnavailable, match="is unreachable") as caught:
        probe_all(client.specs)
    assert "\n" not in str(caught.value) and server.base_url in str(caught.value)


def test_parse_model_args() -> None:
    env = {"ASI_EVOLVE_MODEL": "qwen2.5-coder:7b", "ASI_EVOLVE_BASE_URL": "http://localhost:8000/v1"}
    [local] = parse_model_args([], [], env=env)
    assert (local.model, local.model_name, local.base_url, local.provider) == (
        "qwen2.5-coder:7b", "qwen2.5-coder:7b", "http://localhost:8000/v1", None
    )
    prices = {"openai:gpt-4o-mini": (0.15, 0.6), "deepseek-chat": {"in": 0.27, "out": 1.1}}
    a, b = parse_model_args(["openai:gpt-4o-mini", "deepseek:deepseek-chat"], [], prices=prices, env={})
    assert (a.price_in, a.price_out, a.key_env, a.endpoint) == (0.15, 0.6, "OPENAI_API_KEY", "https://api.openai.com/v1")
    assert (b.price_in, b.price_out, b.key_env, b.model_name) == (0.27, 1.1, "DEEPSEEK_API_KEY", "deepseek-chat")
    both = parse_model_args(["m1,m2"], ["http://h:1/v1"], env={}, temperature=0.2)
    assert [(s.model, s.base_url, s.temperature) for s in both] == [
        ("m1", "http://h:1/v1", 0.2), ("m2", "http://h:1/v1", 0.2)
    ]
    assert [s.base_url for s in parse_model_args(["m1", "m2"], ["http://a/v1", "http://b/v1"], env={})] == [
        "http://a/v1", "http://b/v1"
    ]
    assert parse_model_args([], [], env={}) == []
    with pytest.raises(ValueError, match="3 base URLs for 2 models"):
        parse_model_args(["m1", "m2"], ["http://a", "http://b", "http://c"], env={})
    with pytest.raises(ValueError, match="needs a provider prefix"):
        parse_model_args(["gpt-4o"], [], env={})
    with pytest.raises(ValueError, match="must start with http"):
        parse_model_args(["m"], ["localhost:8000"], env={})


def test_make_chat_model_reads_keys_only_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMUnavailable, match=r"set \$OPENAI_API_KEY"):
        make_chat_model(ModelSpec("openai:gpt-4o-mini"))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    chat = make_chat_model(ModelSpec("openai:gpt-4o-mini", max_tokens=64, timeout_s=7))
    assert isinstance(chat, ChatOpenAI) and chat.model_name == "gpt-4o-mini" and chat.max_retries == 0
    assert chat.openai_api_key.get_secret_value() == SECRET and SECRET not in repr(chat)
    monkeypatch.delenv("ASI_EVOLVE_API_KEY")
    local = make_chat_model(ModelSpec("llama", base_url="http://127.0.0.1:9/v1"))
    assert local.openai_api_key.get_secret_value() == "not-needed"  # a local server needs no key
    monkeypatch.setenv("ANTHROPIC_API_KEY", "x" * 10)
    with pytest.raises(LLMUnavailable, match="install the langchain-anthropic package"):
        make_chat_model(ModelSpec("anthropic:claude-sonnet-4-5"))
