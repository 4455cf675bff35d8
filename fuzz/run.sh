#!/usr/bin/env bash
# Runs softloss's fuzzers for a bounded time (see fuzz/README.md).
#
#   bash fuzz/run.sh rust   [SECONDS] [TARGET...]  each cargo-fuzz target for SECONDS (default 60)
#   bash fuzz/run.sh python [SECONDS]              the atheris harness of the Python API
#   bash fuzz/run.sh all    [SECONDS]              both, one after the other
#
# Environment:
#   FUZZ_TOOLCHAIN  rustup toolchain for cargo (e.g. nightly); default: cargo's default toolchain
#   FUZZ_SANITIZER  cargo-fuzz --sanitizer: none (default, works on stable) or address (nightly)
#   PYTHON          interpreter with softloss importable; default .venv/bin/python, else python3
#   SOFTLOSS_SIMD   e.g. scalar, to fuzz the portable path instead of the best one the CPU has
# cargo-fuzz and atheris are installed when missing. Corpora grow under fuzz/corpus/, crashes are
# written to fuzz/artifacts/<target>/ with the full log in last-run.log there; the exit status is
# 1 when any fuzzer found one.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
mode="${1:-all}"
secs="${2:-60}"
shift $(($# < 2 ? $# : 2))
targets=(kernels_softmax kernels_nll kernels_cross_entropy kernels_binary_losses)
if [ $# -gt 0 ]; then targets=("$@"); fi
cargo=(cargo)
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then cargo+=("+$FUZZ_TOOLCHAIN"); fi
sanitizer="${FUZZ_SANITIZER:-none}"
status=0

# Runs one fuzzer (the command after $1, the name), filtering the console to progress lines;
# prints a summary line with the execution count.
fuzz() {
    local name="$1" log="$here/artifacts/$1/last-run.log" rc
    shift
    mkdir -p "$here/corpus/$name" "$here/artifacts/$name"
    echo "==== $name: ${secs}s"
    set +e
    "$@" 2>&1 | tee "$log" | grep -E --line-buffered '^#[0-9]+[[:space:]]+(pulse|DONE)|^Done|panicked|^==[0-9]+==|Traceback|Error|artifact_prefix|Test unit written'
    rc=${PIPESTATUS[0]}
    set -e
    local done_line
    done_line=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 || true)
    if [ "$rc" -ne 0 ]; then
        status=1
        echo "summary: $name: FOUND A CRASH (exit $rc); see $log and $here/artifacts/$name/"
        tail -n 40 "$log"
    else
        echo "summary: $name: ${done_line:-finished}(s)"
    fi
}

run_rust() {
    if ! "${cargo[@]}" fuzz --help >/dev/null 2>&1; then
        "${cargo[@]}" install cargo-fuzz --locked
    fi
    cd "$here"
    "${cargo[@]}" fuzz build --sanitizer "$sanitizer"
    for t in "${targets[@]}"; do
        local seeds=()
        if [ -d "regressions/$t" ]; then seeds=("regressions/$t"); fi
        fuzz "$t" "${cargo[@]}" fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" "${seeds[@]}" \
            -- -max_total_time="$secs" -timeout=60 -print_final_stats=1
    done
}

run_python() {
    local py="${PYTHON:-}"
    if [ -z "$py" ]; then
        if [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"; else py=python3; fi
    fi
    "$py" -c 'import atheris' 2>/dev/null || "$py" -m pip install --quiet atheris
    "$py" -c 'import softloss' || {
        echo "softloss is not importable by $py: build it first (maturin develop, or pip install .)"
        exit 2
    }
    cd "$here"
    local seeds=()
    if [ -d regressions/atheris_api ]; then seeds=(regressions/atheris_api); fi
    fuzz atheris_api "$py" atheris_api.py -max_total_time="$secs" -timeout=60 \
        -artifact_prefix="$here/artifacts/atheris_api/" corpus/atheris_api "${seeds[@]}"
}

case "$mode" in
    rust) run_rust ;;
    python) run_python ;;
    all)
        run_rust
        run_python
        ;;
    *)
        sed -n '2,16p' "${BASH_SOURCE[0]}"
        exit 2
        ;;
esac
exit "$status"
