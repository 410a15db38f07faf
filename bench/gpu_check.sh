#!/usr/bin/env bash
# Issue 9's GPU figures in one go (about 7 minutes on one H100/H200): training speed of ours vs a bare TRL script at
# Qwen2.5-0.5B's size, ours with the static-cache settings, QLoRA, and eval.py's generation speed.
#
# Where the GPU machine has no trl/datasets/math-verify/bitsandbytes (and no network), carry them as wheels. Once, in
# the repo root of a machine with pip and network (Python 3.12 wheels, since that is the GPU machine's Python):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 --platform any -d .whl trl==1.16.0 datasets==5.2.0 dill==0.4.1 \
#     multiprocess==0.70.19 math-verify==0.9.0 latex2sympy2_extended==1.11.0 antlr4-python3-runtime==4.13.2 \
#     bitsandbytes==0.50.2
# then copy the repo with .whl/ to the GPU machine and run `bash bench/gpu_check.sh` in its root (the wheels are
# installed into /tmp/site only when .whl/ exists; elsewhere the installed packages are used).
# Everything is printed and appended to $OUT/gpu_log.txt ($OUT defaults to /tmp/gpu_check_out); GPU utilisation,
# sampled every second, goes to $OUT/gpu_util.csv. Each phase has its own time limit, all of them share
# GPU_CHECK_BUDGET seconds (default 540), and a failed phase does not stop the next one.
# A dry run of the script itself on a CPU (tiny model, 2 steps): GPU_CHECK_TINY=1 GPU_CHECK_STEPS=2 bash bench/gpu_check.sh
# Ctrl-C stops the running phase and everything it started. At the end (or on Ctrl-C) the work directory (the ~1 GB
# model and runs; one you chose with GPU_CHECK_WORK stays) and /tmp/site are removed; GPU_CHECK_KEEP=1 keeps them.
set -u
cd "$(dirname "$0")/.."
if [ -z "${GPU_CHECK_TINY:-}" ] && ! nvidia-smi -L >/dev/null 2>&1; then
    echo "error: no NVIDIA GPU here (nvidia-smi finds none): run this on a GPU machine, or try the script on a CPU" \
        "with GPU_CHECK_TINY=1 GPU_CHECK_STEPS=2 bash bench/gpu_check.sh" >&2
    exit 2
fi
OUT=${OUT:-/tmp/gpu_check_out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_log.txt") 2>&1
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORK=${GPU_CHECK_WORK:-/tmp/gpu_check_work}  # the 0.5B model is built here once and reused by every phase
PHASE_PID="" MONITOR=""
cleanup() {
    # timeout makes each phase its own process group: Ctrl-C reaches only this script, so stop the group here.
    [ -n "$PHASE_PID" ] && kill -TERM -- "-$PHASE_PID" 2>/dev/null
    [ -n "$MONITOR" ] && kill "$MONITOR" 2>/dev/null
    if [ -z "${GPU_CHECK_KEEP:-}" ]; then
        [ -z "${GPU_CHECK_WORK:-}" ] && rm -rf "$WORK"  # ours; a --work dir you chose stays
        [ -d .whl ] && rm -rf /tmp/site
    fi
}
trap 'echo "=== interrupted: stopping the running phase"; cleanup; trap - EXIT; exit 130' INT TERM
trap cleanup EXIT
DEADLINE=$((SECONDS + ${GPU_CHECK_BUDGET:-540}))
STEPS=${GPU_CHECK_STEPS:-10}
VARIANT=${GPU_CHECK_VARIANT:---gradient_checkpointing true --cache_implementation dynamic}  # ours with the old defaults
if [ -n "${GPU_CHECK_TINY:-}" ]; then SIZE=(--tiny) DATA=data-tiny; else SIZE=() DATA=data-qwen2.5-0.5b-arch; fi

# phase NAME LIMIT_SECONDS COMMAND...: announce, run under a limit (never past the shared deadline), report.
phase() {
    local name=$1 limit=$2
    shift 2
    local left=$((DEADLINE - SECONDS))
    if ((left < 20)); then
        echo "=== [$(date +%T)] phase $name: SKIPPED, only ${left}s of the budget left"
        return 1
    fi
    ((limit > left)) && limit=$left
    echo "=== [$(date +%T)] phase $name (limit ${limit}s): $*"
    local start=$SECONDS rc=0
    timeout --kill-after=15 "$limit" "$@" &
    PHASE_PID=$!
    wait "$PHASE_PID" || rc=$?
    PHASE_PID=""
    ((rc == 124 || rc == 137)) && echo "=== phase $name: TIMED OUT after ${limit}s"
    echo "=== [$(date +%T)] phase $name: exit code $rc after $((SECONDS - start))s"
    return $rc
}

phase environment 30 bash -c 'nvidia-smi; uname -a; python3 --version'
if [ -d .whl ] && phase wheels 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site .whl/*.whl; then
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
phase versions 60 "$PY" - <<'PYTHON'
import importlib
for name in ["torch", "transformers", "trl", "peft", "accelerate", "datasets", "pyarrow", "fsspec", "math_verify",
             "bitsandbytes"]:
    try:
        print(f"{name:14} {getattr(importlib.import_module(name), '__version__', '?')}")
    except Exception as err:
        print(f"{name:14} FAILED to import: {type(err).__name__}: {err}")
import torch
print("cuda:", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PYTHON

nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 >"$OUT/gpu_util.csv" 2>/dev/null &
MONITOR=$!

# Training speed at the seed command's shape: our defaults, bare TRL, then ours with $GPU_CHECK_VARIANT (default:
# gradient checkpointing off and a static KV cache, the fastest in issue 9; a repeat of the defaults if they are that).
phase train 330 "$PY" bench/bench_train.py "${SIZE[@]}" --steps "$STEPS" --work_dir "$WORK" --show_output --run_timeout 150 \
    --ours_args="" --ours_args="$VARIANT"

# eval.py against a bare generate loop, on the adapter the default run just trained (the 0.5B architecture).
phase eval 120 "$PY" bench/bench_eval.py --model_dir "$WORK/runs/ours" --dataset_id "$WORK/$DATA/train.jsonl" \
    --split "train[:64]" --repeats 1

# The fast default's promise: greedy tokens with a static KV cache equal the dynamic cache's.
phase identity 90 "$PY" bench/gpu_identity.py "$WORK/model-${DATA#data-}" "$WORK/$DATA/train.jsonl"

# QLoRA: our path with --load_in_4bit true (memory and speed; no bare run).
phase qlora 120 "$PY" bench/bench_train.py "${SIZE[@]}" --steps 5 --work_dir "$WORK" --show_output --run_timeout 110 \
    --load_in_4bit --no_bare

kill "$MONITOR" 2>/dev/null
echo "=== summary (from $OUT/gpu_log.txt)"
grep -E "^(device:|model:|data:|shape:|run |ours|bare|\[bench_train\].*(done|FAILED)|=== .*(exit code|TIMED|SKIPPED))|speed:|eval\.py / |tokens/s|greedy identical|divergence|static speed-up" \
    "$OUT/gpu_log.txt" | grep -v "^  \[" || true
sleep 1  # let tee write the last lines
