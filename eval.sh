#!/bin/sh
# Evaluate a trained adapter (or a base model) with eval.py. Every eval.py option can be given as an upper-case
# environment variable of the same name (SPLIT, NUM_SAMPLES, TEMPERATURE, MAX_SAMPLES, ... : see python eval.py --help);
# variables you do not set are not passed, so eval.py's defaults and the run's own recorded settings (system prompt,
# columns, rewards, max_prompt_length) apply. eval.py prints which options came from the environment. Arguments go
# straight to eval.py and win over the variables:
#   MODEL_DIR=ckpts/run SPLIT="test[:10%]" sh eval.sh
#   sh eval.sh --baseline                   # the same run's base model, same prompts and rewards
#   NUM_SAMPLES=8 TEMPERATURE=0.7 sh eval.sh
# MODEL_DIR defaults to ckpts/grpo (main.py's default --output_dir). The Python used is $PYTHON, else .venv/bin/python
# next to this script when it exists (made by `make demo` / `make test`), else python3. Plain POSIX sh (bash works too).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$HERE/.venv/bin/python" ]; then PYTHON="$HERE/.venv/bin/python"; else PYTHON=python3; fi
fi
model_flag=""
for arg in "$@"; do
  case $arg in --model_dir | --model_dir=* | --model-dir | --model-dir=*) model_flag=1 ;; esac
done
if [ -z "${MODEL_DIR:-}" ] && [ -z "$model_flag" ]; then
  # Unset, eval.py would take ckpts/grpo for a hub id and try to download it.
  if [ ! -d ckpts/grpo ]; then
    echo "error: MODEL_DIR is not set and ckpts/grpo (main.py's default --output_dir) does not exist here: set" \
      "MODEL_DIR to your run's --output_dir, e.g. MODEL_DIR=ckpts/demo/adapter sh eval.sh" >&2
    exit 2
  fi
  MODEL_DIR=ckpts/grpo
  export MODEL_DIR
fi
# eval.py maps the variables to options with its own parser, so a new eval.py option works here without an edit.
EVAL_SH=1
export EVAL_SH
exec "$PYTHON" "$HERE/eval.py" "$@"
