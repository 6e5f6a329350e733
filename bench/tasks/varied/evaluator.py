"""The instant task's score after a wait of 0.3 to 3 seconds, fixed by the program's text: evaluation times that
vary 10x, as they do between a candidate that fails fast and one that trains to the end."""

import hashlib
import importlib.util
import math
import time
from pathlib import Path

SHORTEST, LONGEST = 0.3, 3.0


def _f(x, y):
    return (x - 1.2) ** 2 + (y + 0.7) ** 2 + 2.0 * math.sin(3.0 * x) * math.cos(2.0 * y) + 2.0


def evaluate(program_path):
    started = time.monotonic()
    digest = hashlib.sha256(Path(program_path).read_bytes()).digest()
    seconds = SHORTEST * (LONGEST / SHORTEST) ** (digest[0] / 255)  # log-uniform between the two
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x, y = module.search()
    value = _f(float(x), float(y))
    time.sleep(max(0.0, seconds - (time.monotonic() - started)))
    if not math.isfinite(value):
        return {"combined_score": 0.0, "error": "non-finite point", "wait_s": seconds}
    return {"combined_score": 1.0 / (1.0 + max(value, 0.0)), "wait_s": seconds}
