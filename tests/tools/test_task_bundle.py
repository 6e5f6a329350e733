"""Shipping a task to another machine and its work dir's files back (`tools.task_bundle`), without Ray."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasks.registry import load_task
from tasks.spec import load_task_dir
from tests.support.tiny_task import write_tiny_task
from tools import task_bundle
from tools.task_bundle import (
    LEFT_OUT,
    BundleError,
    collect_files,
    pack_task,
    private_cache,
    rerooted,
    unpack,
    write_files,
)


def test_a_task_sharing_another_folders_evaluator_travels_whole(tmp_path: Path) -> None:
    task = load_task("circle_packing_32")  # program, evaluator and notes live in ../circle_packing
    bundle = pack_task(task)
    names = {rel for rel, _, _ in bundle.files}
    assert {"circle_packing_32/task.yaml", "circle_packing/evaluator.py", "circle_packing/initial_program.py"} <= names
    assert not any("__pycache__" in rel for rel in names)
    base = unpack(bundle, private_cache(tmp_path / "cache"))
    assert base == tmp_path / "cache" / bundle.digest and unpack(bundle, tmp_path / "cache") == base  # once
    moved = rerooted(task, bundle.anchor, base)
    assert moved.root == base / "circle_packing_32" and moved.evaluator == base / "circle_packing" / "evaluator.py"
    assert moved.evaluator.read_bytes() == task.evaluator.read_bytes()
    assert oct(moved.evaluator.stat().st_mode & 0o777) == "0o644" and oct(base.stat().st_mode & 0o777) == "0o755"
    assert (moved.params, moved.isolation) == (task.params, task.isolation)


def test_the_digest_names_the_content(tmp_path: Path) -> None:
    task = load_task_dir(write_tiny_task(tmp_path / "tiny"))
    first = pack_task(task)
    (tmp_path / "tiny" / "__pycache__").mkdir()
    (tmp_path / "tiny" / "__pycache__" / "evaluator.pyc").write_bytes(b"cache")
    assert pack_task(task).digest == first.digest
    (tmp_path / "tiny" / "notes.txt").write_text("changed")
    assert pack_task(task).digest != first.digest


def test_a_task_too_large_to_ship_is_one_line(tmp_path: Path) -> None:
    task = load_task_dir(write_tiny_task(tmp_path / "tiny"))
    (tmp_path / "tiny" / "data.bin").write_bytes(b"x" * 4096)
    with pytest.raises(BundleError, match=r"^task tiny: its folder holds more than 0 MiB") as caught:
        pack_task(task, limit=1024)
    assert "\n" not in str(caught.value)


def test_work_dir_files_come_back_capped_and_never_through_links(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_bundle, "MAX_FILE_BYTES", 100)
    work = tmp_path / "work"
    (work / "stage").mkdir(parents=True)
    (work / "program.py").write_text("X = 1\n")
    (work / "stage" / "log.txt").write_text("ran\n")
    (work / "big.bin").write_bytes(b"x" * 101)
    (work / "secret").symlink_to("/etc/passwd")
    os.mkfifo(work / "pipe")
    files, left = collect_files(work)
    assert dict(files) == {"program.py": b"X = 1\n", "stage/log.txt": b"ran\n"}
    assert left == ["big.bin: 101 bytes, over the 0 MiB brought back"]
    back = tmp_path / "back"
    write_files(back, [*files, ("../escaped", b"no")], left, "node 10.0.0.2 (abcd1234), worker pid 7")
    assert (back / "stage" / "log.txt").read_text() == "ran\n" and not (tmp_path / "escaped").exists()
    assert (back / LEFT_OUT).read_text().splitlines() == [
        "files of this evaluation left on node 10.0.0.2 (abcd1234), worker pid 7:", left[0]]


def test_a_cache_others_may_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(BundleError, match="is not a private folder"):
        private_cache(shared)
