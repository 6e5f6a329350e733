"""Runs in the jail, in the candidate's process: `python -c <this> program.py pages.json`.

Imports the candidate, calls `clean(doc)` on every page it was handed (never the gold text: that stays with
the trusted evaluator) and sends one outcome per page back over the result channel: the cleaned text, a drop
(None) or the page's error. Whatever it sends is only data: the evaluator scores it against texts this process
never sees.
"""
import importlib.util
import json
import os
import sys

program, pages_file = sys.argv[1], sys.argv[2]
out = os.fdopen(int(os.environ.pop("ASI_EVOLVE_RESULT_FD")), "w")
spec = importlib.util.spec_from_file_location("candidate_program", program)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
clean = getattr(module, "clean", None)
if not callable(clean):
    raise SystemExit("the program defines no clean(doc) function")
with open(pages_file) as handle:
    pages = json.load(handle)
outcomes = []
for page in pages:
    try:
        value = clean(dict(page))
    except Exception as exc:  # one page's failure is that page's outcome, the others still count
        outcomes.append({"error": f"{type(exc).__name__}: {exc}"[:300]})
        continue
    if value is None:
        outcomes.append({"drop": True})
    elif isinstance(value, str):
        outcomes.append({"text": value})
    else:
        outcomes.append({"error": f"clean returned {type(value).__name__}, expected str or None"})
json.dump({"outcomes": outcomes}, out)
out.close()
