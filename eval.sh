#!/usr/bin/env bash
# Evaluate a trained adapter (or a base model) with eval.py. Each upper-case variable you set becomes the flag of
# the same name; variables you do not set are not passed, so eval.py's defaults and the run's own recorded settings
# (system prompt, columns, rewards, max_prompt_length) apply. Extra arguments go straight to eval.py:
#   MODEL_DIR=ckpts/run SPLIT="test[:10%]" bash eval.sh
#   bash eval.sh --baseline                  # the same run's base model, same prompts and rewards
#   bash eval.sh --num_samples 8 --temperature 0.7
# MODEL_DIR defaults to ckpts/grpo (main.py's default --output_dir). The Python used is $PYTHON, else .venv/bin/python
# next to this script when it exists (made by `make demo` / `make test`), else python.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$HERE/.venv/bin/python" ]]; then PYTHON="$HERE/.venv/bin/python"; else PYTHON=python; fi
fi

args=(--model_dir "${MODEL_DIR:-ckpts/grpo}")
for name in DATASET_ID SPLIT BATCH_SIZE MAX_COMPLETION_LENGTH MAX_PROMPT_LENGTH OUTPUT_FILE; do
  if [[ -n "${!name:-}" ]]; then
    args+=("--$(tr '[:upper:]' '[:lower:]' <<<"$name")" "${!name}")
  fi
done

exec "$PYTHON" "$HERE/eval.py" "${args[@]}" "$@"
