"""The CLI's progress line counts failures from the run database incrementally, right as nodes arrive."""

from __future__ import annotations

from pathlib import Path

from graph.progress import LoopProgress
from knowledge.database import NodeDatabase
from knowledge.records import NodeDraft


def store(db: NodeDatabase, key: str, status: str) -> None:
    db.add(NodeDraft(trial_key=key, generation=1, parent_ids=(), name=key, motivation="", program="", edit="",
                     metrics={}, score=1.0 if status == "ok" else None, analysis="", status=status))


def test_failures_are_counted_once_each_as_nodes_arrive(tmp_path: Path) -> None:
    with LoopProgress(tmp_path, 10) as progress:
        progress({"steps": 0})  # no database yet: nothing to count, nothing raised
        db = NodeDatabase(tmp_path / "run.db")
        for key, status in [("a", "ok"), ("b", "failed"), ("c", "timeout")]:
            store(db, key, status)
        progress({"steps": 3})
        fields = progress.progress.tasks[0].fields
        assert fields["failures"] == 2
        progress({"steps": 3})  # a repeated tally counts nothing twice
        assert progress.progress.tasks[0].fields["failures"] == 2
        store(db, "d", "ok")
        store(db, "e", "duplicate")
        progress({"steps": 5})
        assert progress.progress.tasks[0].fields["failures"] == 3
        assert progress.progress.tasks[0].completed == 5
