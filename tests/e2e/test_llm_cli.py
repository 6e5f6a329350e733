"""`asi-evolve run --model … --base-url …` against a real OpenAI-compatible server, then `--replay` offline."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agents.models.ledger import CallLedger
from knowledge.database import NodeDatabase
from tests.support.cli import asi, status_json
from tests.support.model_replies import tiny_task_model
from tests.support.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.slow


def sequence(run_dir: Path) -> list[tuple]:
    return [(n.trial_key, n.name, n.status, n.score, n.program, n.analysis)
            for n in NodeDatabase(run_dir / "run.db").nodes()]


def test_model_run_then_exact_replay_without_network(tiny_task: Path, tmp_path: Path) -> None:
    recorded = tmp_path / "recorded"
    with FakeOpenAIServer(reply_fn=tiny_task_model) as server:
        proc = asi("run", str(tiny_task), "--steps", "3", "--run-dir", str(recorded), "--no-cognition",
                   "--model", "fake-model", "--base-url", server.base_url, timeout=300)
        assert proc.returncode == 0, proc.stderr
        asked = len([r for r in server.requests if r.path.endswith("/chat/completions")])
    assert "models: fake-model" in proc.stderr
    assert asked == len(CallLedger(recorded / "run.db").rows()) == 3 + 4  # researcher x3, analyzer x4
    info = status_json(recorded)
    assert info["model_calls"] == 7 and info["model_tokens"] > 0 and "model calls 7" in proc.stdout
    # the server is gone: a replay must not touch the network and must reproduce every node
    replayed = tmp_path / "replayed"
    proc = asi("run", "--replay", str(recorded), "--run-dir", str(replayed), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "replaying the model answers" in proc.stderr
    assert sequence(replayed) == sequence(recorded)


def test_unreachable_model_server_is_one_line_and_exit_2(tiny_task: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    proc = asi("run", str(tiny_task), "--run-dir", str(tmp_path / "run"), "--model", "fake-model",
               "--base-url", f"http://127.0.0.1:{port}/v1", timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(port) in lines[0]
    assert not (tmp_path / "run" / "run.db").exists()


def test_max_cost_with_an_unpriced_model_is_refused_unless_priced_or_allowed(tiny_task: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer(reply_fn=tiny_task_model) as server:
        common = ["--steps", "1", "--no-cognition", "--model", "fake-model", "--base-url", server.base_url,
                  "--max-cost", "2.5"]
        refused = asi("run", str(tiny_task), "--run-dir", str(tmp_path / "refused"), *common, timeout=120)
        assert refused.returncode == 2
        lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "no price is known for fake-model" in lines[0] and "--allow-unpriced" in lines[0]
        assert not (tmp_path / "refused").exists()
        priced = asi("run", str(tiny_task), "--run-dir", str(tmp_path / "priced"), *common,
                     "--price", "fake-model=1000/1000", timeout=300)
        assert priced.returncode == 0, priced.stderr
        allowed = asi("run", str(tiny_task), "--run-dir", str(tmp_path / "allowed"), *common, "--allow-unpriced",
                      timeout=300)
        assert allowed.returncode == 0, allowed.stderr
    rows = CallLedger(tmp_path / "priced" / "run.db").rows()
    assert rows and all(r.cost == pytest.approx((r.input_tokens + r.output_tokens) * 1000 / 1e6) for r in rows)
    assert status_json(tmp_path / "allowed")["model_cost"] == 0.0


def test_the_key_may_come_from_a_dot_env_file_in_the_working_directory(tiny_task: Path, tmp_path: Path,
                                                                       monkeypatch) -> None:
    monkeypatch.delenv("ASI_EVOLVE_API_KEY", raising=False)
    key = "sk-from-dot-env-0000000000"
    with FakeOpenAIServer(reply_fn=tiny_task_model, api_key=key) as server:
        args = ["run", str(tiny_task), "--steps", "1", "--no-cognition", "--model", "fake-model",
                "--base-url", server.base_url]
        rejected = asi(*args, "--run-dir", str(tmp_path / "no-key"), timeout=120, cwd=tmp_path)
        assert rejected.returncode == 2 and "rejected the API key" in rejected.stderr
        (tmp_path / ".env").write_text(f"ASI_EVOLVE_API_KEY={key}\n")
        accepted = asi(*args, "--run-dir", str(tmp_path / "with-key"), timeout=300, cwd=tmp_path)
        assert accepted.returncode == 0, accepted.stderr
    assert key not in (tmp_path / "with-key" / "run.db").read_bytes().decode(errors="replace")
