#!/usr/bin/env bash
# On a lent GPU machine, from the repository root, with .gpu/ carried (benchmarks/gpu_kit.py pack):
# install the carried wheels, then train the GRID recipes into $OUT (benchmarks/gpu_kit.py run).
set -uo pipefail
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 benchmarks/gpu_kit.py run "$@"
