#!/bin/bash
# Evaluation script of the experiment: run from the step directory, which holds the candidate as `code`.
set -e

STEP_DIR="$(pwd)"
if [[ "$STEP_DIR" == */steps/step_* ]]; then
    EXPERIMENT_DIR="$(dirname "$(dirname "$STEP_DIR")")"
else
    EXPERIMENT_DIR="$(dirname "$STEP_DIR")"
fi

python3 "${EXPERIMENT_DIR}/evaluator.py" "${STEP_DIR}/code" "${STEP_DIR}/results.json" > "${STEP_DIR}/eval.log" 2>&1
echo "evaluated ${STEP_DIR}/code"
