#!/usr/bin/env bash
# Evaluate a trained adapter (or a base model) with eval.py. Every default can be overridden by an environment
# variable named after the flag in upper case, and extra arguments go straight to eval.py:
#   MODEL_DIR=ckpts/run SPLIT="test[:10%]" bash eval.sh
#   bash eval.sh --baseline                  # the same run's base model, same prompts and rewards
#   PYTHON=.venv/bin/python bash eval.sh --num_samples 8 --temperature 0.7
# Relative paths are taken from the directory you run it in; eval.py is found next to this script.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

MODEL_DIR="${MODEL_DIR:-ckpts/grpo}"  # main.py's default --output_dir
DATASET_ID="${DATASET_ID:-AI-MO/NuminaMath-TIR}"
SPLIT="${SPLIT:-test[:5%]}"
BATCH_SIZE="${BATCH_SIZE:-16}"
MAX_COMPLETION_LENGTH="${MAX_COMPLETION_LENGTH:-512}"
MAX_PROMPT_LENGTH="${MAX_PROMPT_LENGTH:-256}"
OUTPUT_FILE="${OUTPUT_FILE:-results/eval_results.json}"

exec "${PYTHON:-python}" "$HERE/eval.py" \
  --model_dir "$MODEL_DIR" \
  --dataset_id "$DATASET_ID" \
  --split "$SPLIT" \
  --batch_size "$BATCH_SIZE" \
  --max_completion_length "$MAX_COMPLETION_LENGTH" \
  --max_prompt_length "$MAX_PROMPT_LENGTH" \
  --output_file "$OUTPUT_FILE" \
  "$@"
