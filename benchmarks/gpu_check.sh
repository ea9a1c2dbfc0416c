#!/usr/bin/env bash
# One GPU check, < 10 minutes on one CUDA GPU: QLoRA steps of a 7B-shaped model (peak memory vs
# the paper's 7,338 MB), HF vs vLLM generation tokens/s (and identical answers), the staging
# heads' LoRA mode on the real TCGA reports. Writes benchmarks/results/gpu.json. Without CUDA it
# writes "skipped: no CUDA device" there and exits 0. Options go to benchmarks/gpu_check.py
# (--sections qlora_7b,generation,heads_lora  --out PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
       HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" benchmarks/gpu_check.py "$@"
