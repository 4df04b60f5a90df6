#!/usr/bin/env bash
# The one script a session with a GPU runs (docs/gpu.md): install the carried wheels, run
# bench/gpu.py in full mode under a timeout, then the training chain (bench/gpu_train.py), and leave
# the results JSON and both logs in $OUT (the device tool brings that folder back) or, without $OUT,
# in bench/results/.
#
#   bash bench/gpu_run.sh .whl          # through the device tool: carry [".whl"], timeout_s 420
#
# At most about 6 minutes: installing (seconds), BENCH_TIMEOUT (default 280 s; bench/gpu.py's own
# budget is 230 s, after which it skips sections and still writes its JSON), TRAIN_TIMEOUT (default
# 75 s). BENCH_ARGS and TRAIN_ARGS are added to the two commands (a check of this script on a CPU:
# BENCH_ARGS="--mode smoke" TRAIN_ARGS="--model e4b --max-steps 1"). Nothing is downloaded: the GPU
# machine reaches no network.
set -uo pipefail
cd "$(dirname "$0")/.."

wheels="${1:?usage: bash bench/gpu_run.sh WHEEL_FOLDER   (docs/gpu.md says how to fill it)}"
results="${OUT:-bench/results}"
site=/tmp/lgtm575-site
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
mkdir -p "$results" "$site"

echo "== python and GPU"
python3 --version
python_version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$python_version" != "3.12" ]; then
    # bitsandbytes is one wheel for every Python; multiprocess (needed by datasets, for training) is
    # built per Python version, so its wheel must be fetched again for this one.
    echo "warning: the wheels were fetched for Python 3.12 (docs/gpu.md) but python3 is $python_version:" \
         "fetch multiprocess again with --python-version $python_version; training may not run" >&2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "warning: no nvidia-smi" >&2

echo "== installing the carried wheels from $wheels"
install() { python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$@"; }
ls "$wheels"/bitsandbytes-*.whl >/dev/null 2>&1 || echo "error: no bitsandbytes wheel in $wheels: 4bit and 8bit will fail" >&2
install "$wheels"/bitsandbytes-*.whl || echo "error: bitsandbytes did not install: 4bit and 8bit will fail" >&2
training_wheels=$(ls "$wheels"/*.whl 2>/dev/null | grep -v '/bitsandbytes-' || true)
training=1
# Training needs trl, datasets and datasets' dill and multiprocess; the image has the rest.
if [ -z "$training_wheels" ] || ! install $training_wheels; then
    training=0
    echo "error: the training wheels (trl, datasets, dill, multiprocess) did not install: training skipped" >&2
fi
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
python3 - <<'EOF'
from importlib.metadata import PackageNotFoundError, version
names = "torch transformers peft accelerate bitsandbytes trl datasets pyarrow fsspec huggingface_hub".split()
found = []
for name in names:
    try:
        found.append(f"{name} {version(name)}")
    except PackageNotFoundError:
        found.append(f"{name} MISSING")
print(", ".join(found))
EOF

echo "== bench/gpu.py --mode full ${BENCH_ARGS:-} (timeout ${BENCH_TIMEOUT:-280} s)"
# shellcheck disable=SC2086  # BENCH_ARGS is a list of arguments
timeout -k 20 "${BENCH_TIMEOUT:-280}" python3 bench/gpu.py --mode full --results-dir "$results" ${BENCH_ARGS:-} \
    > /tmp/lgtm575-bench.out 2> >(tee "$results/bench.log" >&2)
echo "bench/gpu.py exit status $?"
latest=$(ls -t "$results"/gpu-*.json 2>/dev/null | grep -v -- '-train-' | head -1)

echo "== bench/gpu_train.py (timeout ${TRAIN_TIMEOUT:-75} s)"
if [ "$training" = 1 ]; then
    # shellcheck disable=SC2086
    timeout -k 15 "${TRAIN_TIMEOUT:-75}" python3 bench/gpu_train.py --results-dir "$results" \
        ${latest:+--into "$latest"} ${TRAIN_ARGS:-} > /tmp/lgtm575-train.out 2> "$results/train.log"
    echo "bench/gpu_train.py exit status $? (log: train.log)"
    tail -n 5 "$results/train.log"
fi

echo "== summary"
if [ -n "$latest" ]; then
    python3 bench/gpu.py --summarize "$latest"
    echo "results: $latest"
else
    echo "error: bench/gpu.py left no results file" >&2
    exit 1
fi
