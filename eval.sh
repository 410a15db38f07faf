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
MODEL_DIR=${MODEL_DIR:-ckpts/grpo}
export MODEL_DIR
# eval.py maps the variables to options with its own parser, so a new eval.py option works here without an edit.
EVAL_SH=1
export EVAL_SH
exec "$PYTHON" "$HERE/eval.py" "$@"
