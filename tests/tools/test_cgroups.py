"""Groups for whole process trees: made below ours, removed after, and swept when a runner died first."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tools.cgroups import Cgroup, TreeLimits, sweep


@pytest.fixture
def group() -> Cgroup:
    made = Cgroup.create(TreeLimits(memory_mb=64, max_processes=8))
    if made is None:
        pytest.skip("cgroups are not writable here")
    return made


def test_a_group_is_removed_with_what_runs_in_it(group: Cgroup) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    for procs in group.procs_files:
        with open(procs, "w") as out:
            out.write(str(sleeper.pid))
    assert group.pids() == {sleeper.pid}
    group.remove()
    assert sleeper.wait(timeout=5) == -9
    assert not any(d.exists() for d in group.dirs.values())


def test_groups_left_by_a_dead_runner_are_swept(group: Cgroup) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    orphans = [d.with_name(f"asi-evolve-{dead}-0") for d in group.dirs.values()]
    for orphan in orphans:
        orphan.mkdir()
    assert sweep() >= len(orphans)
    assert not any(o.exists() for o in orphans)
    assert all(d.exists() for d in group.dirs.values()), "a live runner's group is kept"
    group.remove()
