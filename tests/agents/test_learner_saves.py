"""The Learner saves the sampler's state only at save marks, and a sampler restored from the last save and caught
up on the nodes stored since is exactly the one that kept running: same state, same picks, after a crash at any
generation."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from agents.learner import catch_up, sampler_meta_key, save_mark
from graph.context import Context
from graph.services import Services
from graph.wiring import open_services
from knowledge.records import NodeDraft
from tests.support.tiny_task import write_tiny_task


def test_save_marks_never_decrease_and_thin_out_as_the_run_grows() -> None:
    marks = [save_mark(n) for n in range(0, 40_000)]
    assert all(a <= b for a, b in zip(marks, marks[1:], strict=False))
    assert all(save_mark(n) <= n for n in range(0, 5_000))
    assert len(set(marks[:2048])) == 32  # every 64 nodes below 2,048
    assert save_mark(10_000) == 9_728 and save_mark(17_000) == 16_384  # then every 1/16 of the power of two


def services_of(task: Path, run_dir: Path) -> Services:
    return open_services(Context(task=str(task), run_dir=str(run_dir), cognition=False, seed=7))


def store_children(services: Services, generation: int, k: int, rng: random.Random) -> list[int]:
    """One Learner generation without the graph: catch up, sample k parents, store one child per pick."""
    catch_up(services)
    picks = services.sampler.sample(k, random.Random(f"7:learner:{generation}"), generation)
    for slot, pick in enumerate(picks):
        ok = rng.random() < 0.8
        services.db.add(NodeDraft(
            trial_key=f"g{generation:04d}.{slot}", generation=generation, parent_ids=(pick.parent_id,),
            name=f"c{generation}.{slot}", motivation="", program=f"X = {generation}.{slot}\n", edit="",
            metrics={}, score=rng.random() if ok else None, analysis="", status="ok" if ok else "failed",
            island=pick.island,
        ))
    return [p.parent_id for p in picks]


@pytest.mark.parametrize("sampler", ["ucb1", "islands"])
def test_a_sampler_restored_from_its_last_save_continues_exactly(tmp_path: Path, sampler: str) -> None:
    params = "{islands: 3, migration_interval: 2, migration_fraction: 0.5}" if sampler == "islands" else "{}"
    task = write_tiny_task(tmp_path / "task", sampler=sampler, sampler_params=params)
    running = services_of(task, tmp_path / "run")
    running.db.add(NodeDraft(trial_key="g0000.0", generation=0, parent_ids=(), name="init", motivation="",
                             program="X = 0\n", edit="", metrics={}, score=0.1, analysis="", status="ok"))
    saves: list[int] = []
    set_meta = running.db.set_meta
    running.db.set_meta = lambda key, value: (saves.append(running.sampler.observed_upto), set_meta(key, value))
    rng = random.Random(1)
    crash_at = {23, 41, 60}
    for generation in range(1, 70):
        if generation in crash_at:  # a fresh process: nothing in memory, only the run database
            restarted = services_of(task, tmp_path / "run")
            catch_up(restarted)
            catch_up(running)
            assert restarted.sampler.state_dict() == running.sampler.state_dict()
            assert restarted.sampler.sample(3, random.Random(generation), generation) == \
                running.sampler.sample(3, random.Random(generation), generation)
        store_children(running, generation, 3, rng)
    assert running.db.count() == 1 + 69 * 3
    assert [save_mark(n) for n in saves] == [64, 128, 192]  # each mark crossed once, not a save a generation
    restored = services_of(task, tmp_path / "run").sampler
    restored.load_state_dict(json.loads(running.db.get_meta(sampler_meta_key(running))))
    assert restored.observed_upto == saves[-1]
