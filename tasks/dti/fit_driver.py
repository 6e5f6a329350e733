"""Runs in the jail, in the candidate's process: `python -c <this> program.py inputs.npz names.json`.

For each split it hands the candidate's `fit(train, seed)` the feature matrices, the training pairs and their
pKd, then its `predict(model, test)` the test pairs without labels, and sends the predictions back over the
result channel. The labels of the test pairs were never written into this jail.
"""
import importlib.util
import json
import os
import sys
import time

import numpy as np

program, inputs_file, names_file = sys.argv[1], sys.argv[2], sys.argv[3]
out = os.fdopen(int(os.environ.pop("ASI_EVOLVE_RESULT_FD")), "w")
spec = importlib.util.spec_from_file_location("candidate_program", program)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
for name in ("fit", "predict"):
    if not callable(getattr(module, name, None)):
        raise SystemExit(f"the program defines no {name}() function")
with np.load(inputs_file, allow_pickle=False) as stored:
    arrays = {key: stored[key] for key in stored.files}
with open(names_file) as handle:
    names = json.load(handle)
seed = int(arrays["seed"])
sent = {}
for split in ("standard", "cold_drug"):
    common = {"drug_x": arrays["drug_x"].copy(), "protein_x": arrays["protein_x"].copy(),
              "smiles": list(names["smiles"]), "sequences": list(names["sequences"])}
    train = {**common, "pairs": arrays[f"{split}_train_pairs"].copy(), "y": arrays[f"{split}_train_y"].copy()}
    test = {**common, "pairs": arrays[f"{split}_test_pairs"].copy()}
    started = time.monotonic()
    model = module.fit(train, seed)
    predictions = np.asarray(module.predict(model, test), dtype=np.float64).reshape(-1)
    sent[split] = predictions.tolist()
    sent[f"{split}_fit_s"] = time.monotonic() - started
json.dump(sent, out)
out.close()
