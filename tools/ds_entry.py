"""Start a training script under DeepSpeed inside the jail, then hand back what it wrote: `python ds_entry.py`.

Standalone on purpose (stdlib only): it runs in the jail before any candidate code, reads its orders from
`$ASI_EVOLVE_DS_ENTRY` (JSON: script, args, num_gpus, master_port, extensions), and keeps the result channel to
itself — the training runs as a child that does not inherit it. The training writes its outcome to
`$ASI_EVOLVE_TRAIN_OUT/result.bin`; this process sends that file over the channel when the training ends.

The op-extension cache is shown read-only (candidates must not poison what later candidates load) and torch
locks a build dir before loading from it, so the cache is copied into the jail's private /tmp first.
CPU: one process over gloo with the single-rank environment. GPU: DeepSpeed's launcher with `--num_gpus`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

ORDERS_ENV = "ASI_EVOLVE_DS_ENTRY"
RESULT_FD_ENV = "ASI_EVOLVE_RESULT_FD"
OUT_ENV = "ASI_EVOLVE_TRAIN_OUT"
RESULT_FILE = "result.bin"


def training_env(orders: dict, tmp: str) -> dict[str, str]:
    env = dict(os.environ)
    if orders.get("extensions"):
        copy = os.path.join(tmp, "torch_extensions")
        shutil.copytree(orders["extensions"], copy, symlinks=True, dirs_exist_ok=True)
        env["TORCH_EXTENSIONS_DIR"] = copy
    if not orders.get("num_gpus"):
        env.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(orders["master_port"]), DS_ACCELERATOR="cpu", GLOO_SOCKET_IFNAME="lo")
    return env


def training_argv(orders: dict) -> list[str]:
    script, args = orders["script"], [str(a) for a in orders.get("args", [])]
    if not orders.get("num_gpus"):
        return [sys.executable, "-u", script, *args]
    return [sys.executable, "-u", "-m", "deepspeed.launcher.runner", "--num_gpus", str(orders["num_gpus"]),
            "--master_port", str(orders["master_port"]), "--no_local_rank", script, *args]


def main() -> int:
    orders = json.loads(os.environ.pop(ORDERS_ENV))
    channel = os.environ.pop(RESULT_FD_ENV, "")
    tmp = tempfile.mkdtemp(prefix="train-")
    out = os.path.join(tmp, "out")
    os.makedirs(out)
    env = training_env(orders, tmp)
    env[OUT_ENV] = out
    code = subprocess.run(training_argv(orders), env=env, stdin=subprocess.DEVNULL).returncode
    result = os.path.join(out, RESULT_FILE)
    if channel and os.path.isfile(result) and not os.path.islink(result):
        with open(result, "rb") as src, os.fdopen(int(channel), "wb") as dst:
            shutil.copyfileobj(src, dst)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
