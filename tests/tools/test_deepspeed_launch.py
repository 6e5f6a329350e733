"""The DeepSpeed launcher: options, progress lines, and real trainings on the CPU in the jail.

The op-extension cache is the machine's (built once by the first training, then shared by every test and run).
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tools.deepspeed_launch import (
    PROGRESS_PREFIX,
    DeepSpeedOptions,
    default_extensions_dir,
    environment_tag,
    format_progress,
    parse_progress,
    train,
)
from tools.process_io import LineSplitter

TRAIN_SCRIPT = """
import json, os, sys
import deepspeed, torch
from asi_harness import ds_config, load_candidate, progress, write_result
program = load_candidate()
torch.manual_seed(0)
model = torch.nn.Linear(4, 1)
config = ds_config()
config.update(train_micro_batch_size_per_gpu=8,
              optimizer={"type": "AdamW", "params": {"lr": 0.05, "torch_adam": True}})
engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=config)
x = torch.randn(64, 4)
y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
for step in range(int(sys.argv[1])):
    i = (step * 8) % 64
    loss = torch.nn.functional.mse_loss(engine(x[i:i + 8]), y[i:i + 8])
    engine.backward(loss)
    engine.step()
    progress(step=step + 1, loss=loss.item(), tokens_per_s=1.0)
program.after_training(engine)
write_result(json.dumps({"loss": loss.item(), "world": int(os.environ["WORLD_SIZE"]), "rank": int(os.environ["RANK"]),
                         "cwd_files": sorted(os.listdir("."))}).encode())
"""


def _task(tmp_path: Path, program: str) -> tuple[Path, Path]:
    script, path = tmp_path / "train_script.py", tmp_path / "candidate.py"
    script.write_text(TRAIN_SCRIPT)
    path.write_text(textwrap.dedent(program))
    for p in (tmp_path, script, path):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return path, script


def test_options_resolve_auto_and_refuse_bad_values(tmp_path: Path) -> None:
    options = DeepSpeedOptions.resolve({"num_gpus": "auto", "extensions_dir": str(tmp_path)})
    assert options.num_gpus == 0 and options.zero_stage == 0 and options.bf16 is False  # no CUDA here
    assert options.ds_config() == {"zero_optimization": {"stage": 0}, "steps_per_print": 10**9,
                                   "bf16": {"enabled": False}, "gradient_clipping": 1.0}
    gpu = DeepSpeedOptions.resolve({"num_gpus": 2})
    assert (gpu.zero_stage, gpu.bf16) == (2, True)
    assert DeepSpeedOptions.from_env({"ASI_EVOLVE_LAUNCH": gpu.to_json()}) == gpu
    for bad, words in (({"num_gpus": -1}, "num_gpus"), ({"zero_stage": 5}, "zero_stage"),
                       ({"gradient_clipping": "nan"}, "gradient_clipping"), ({"gpus": 1}, "unknown deepspeed")):
        with pytest.raises(ValueError, match=words):
            DeepSpeedOptions.resolve(bad)


def test_extensions_dir_is_configurable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASI_EVOLVE_TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    assert default_extensions_dir() == tmp_path / "ext"
    assert DeepSpeedOptions.resolve({}).extensions_dir == str(tmp_path / "ext")
    monkeypatch.delenv("ASI_EVOLVE_TORCH_EXTENSIONS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # one folder per Python environment: torch would rebuild another venv's op, and the jail cannot build
    assert default_extensions_dir() == tmp_path / "cache" / "asi-evolve" / "torch_extensions" / environment_tag()


def test_progress_lines_keep_known_finite_numbers_only() -> None:
    line = format_progress({"step": 3, "loss": 1.5})
    assert line.startswith(PROGRESS_PREFIX) and parse_progress(line) == {"loss": 1.5, "step": 3}
    fake = PROGRESS_PREFIX + json.dumps({"step": 1, "loss": "NaN", "score": 99, "phase": "x" * 100, "lr": True})
    assert parse_progress(fake) == {"step": 1, "phase": "x" * 40}
    for junk in ("step 3 loss 1.0", PROGRESS_PREFIX + "{not json", PROGRESS_PREFIX + "[1, 2]",
                 PROGRESS_PREFIX + json.dumps({"loss": float("inf")})):
        assert parse_progress(junk) is None
    hostile = PROGRESS_PREFIX + json.dumps({"step": 2, "phase": "\x1b[2J[/x] [bold]lm\n"})
    event = parse_progress(hostile)
    assert event == {"step": 2, "phase": "[2J[/x] [bold]lm"}  # no terminal escapes or newlines survive


def test_the_cli_progress_line_shows_a_markup_like_phase_as_text(tmp_path: Path) -> None:
    from graph.progress import LoopProgress

    with LoopProgress(tmp_path, 3) as progress:  # rich markup in the phase must not raise MarkupError
        progress.training({"node": "g0001.0", "phase": "[/x] [bold]", "step": 1, "steps": 2, "loss": 1.0})
        fields = progress.progress.tasks[0].fields
    assert "[/x]" in progress.progress.console.render_str(fields["training"]).plain


def test_line_splitter_joins_chunks_and_drops_overlong_lines() -> None:
    lines: list[str] = []
    split = LineSplitter(lines.append, max_line=10)
    for chunk in (b"ab", b"c\nde", b"f\n" + b"x" * 25, b"yy\nok\n"):
        split(chunk)
    assert lines == ["abc", "def", "ok"]


def test_training_runs_under_deepspeed_in_the_jail_and_streams_progress(tmp_path: Path) -> None:
    program, script = _task(tmp_path, """
        def after_training(engine):
            print("trained on", engine.device)
    """)
    events: list[dict] = []
    shm_before = set(os.listdir("/dev/shm"))
    run = train(program, script, args=["12"], timeout_s=240, on_progress=events.append)
    assert run.failure() == "", run.sandbox.stderr[-2000:]
    result = json.loads(run.result)
    assert (result["world"], result["rank"]) == (1, 0)
    assert result["loss"] < 10
    assert "program.py" in result["cwd_files"] and "ds_config.json" in result["cwd_files"]
    assert [e["step"] for e in events] == list(range(1, 13)) and run.progress == tuple(events)
    assert "trained on cpu" in run.sandbox.stdout
    assert set(os.listdir("/dev/shm")) <= shm_before
    ready = f".ready-deepspeed{_version('deepspeed')}-torch{_version('torch')}-env{environment_tag()}"
    assert Path(default_extensions_dir(), ready).is_file()


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def test_a_training_past_its_time_is_killed_with_every_process_it_started(tmp_path: Path) -> None:
    marker = f"straggler-{os.getpid()}-{time.time_ns()}"
    program, script = _task(tmp_path, f"""
        import subprocess, sys, time
        def after_training(engine):
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "{marker}"])
            time.sleep(600)
    """)
    start = time.monotonic()
    run = train(program, script, args=["2"], timeout_s=20)
    assert time.monotonic() - start < 60
    assert run.sandbox.timed_out and run.failure().startswith("training timed out after")
    time.sleep(0.5)
    left = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
    assert left == []


def test_a_candidate_cannot_change_the_shared_op_cache_or_see_secrets(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-123456")
    cache = Path(DeepSpeedOptions.resolve({}).extensions_dir)
    program, script = _task(tmp_path, """
        import os
        def after_training(engine):
            assert "OPENAI_API_KEY" not in os.environ
            cache = os.environ["ASI_EVOLVE_DS_ENTRY"] if "ASI_EVOLVE_DS_ENTRY" in os.environ else ""
            assert cache == ""  # the orders are not left for the training to read
            for root in ("/sandbox/work/.asi-evolve/torch_extensions",):
                try:
                    with open(os.path.join(root, "poison"), "w") as f:
                        f.write("x")
                    print("WROTE CACHE")
                except OSError as exc:
                    print("cache refused:", type(exc).__name__)
    """)
    before = sorted(p.name for p in cache.rglob("*"))
    run = train(program, script, args=["1"], timeout_s=240)
    assert run.failure() == "", run.sandbox.stderr[-2000:]
    assert "WROTE CACHE" not in run.sandbox.stdout
    assert sorted(p.name for p in cache.rglob("*")) == before
    assert "sk-secret-value-123456" not in run.sandbox.stdout + run.sandbox.stderr


def test_a_crashing_training_says_why_in_one_line(tmp_path: Path) -> None:
    program, script = _task(tmp_path, """
        def after_training(engine):
            raise ValueError("shapes (3, 4) and (5, 6) do not match")
    """)
    run = train(program, script, args=["1"], timeout_s=240)
    assert run.failure().startswith("training failed (exit code 1)")
    assert "ValueError: shapes (3, 4) and (5, 6) do not match" in run.failure()
