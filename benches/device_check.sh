#!/usr/bin/env bash
# One prepared run on a many-core x86-64 machine that has PyTorch but no Rust toolchain (the
# workplace's device machine): the Rust unit tests and the exhaustive f32 exp/ln sweep on every SIMD
# path that CPU has, the whole pytest suite against the wheel (the PyTorch comparisons included),
# thread scaling, and the side-by-side benchmark with PyTorch. Everything is built beforehand:
#
#   cargo test --release --no-run            # prints the unit-test binary's path
#   mkdir -p .device && cp target/release/deps/softloss-<hash> .device/softloss-tests
#   maturin build --release --out dist
#
# then, on that machine, from the repository root: `bash benches/device_check.sh` (outputs under
# $OUT, or /tmp/device-out; about 8 minutes on 16 cores, carrying `dist` and `.device`).
set -uo pipefail
root=$PWD
out=${OUT:-/tmp/device-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 OPENBLAS_NUM_THREADS=1
step() { printf '\n==== %s (%ss) ====\n' "$*" "$SECONDS"; }

step machine
grep -m1 "model name" /proc/cpuinfo
nproc
grep -o 'avx512[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' '
echo
python3 -c 'import numpy, sys; print(sys.version.split()[0], "numpy", numpy.__version__)'

step "rust unit tests, then the exhaustive f32 sweep"
timeout 90 .device/softloss-tests --test-threads "$(nproc)" 2>&1 | grep -E "test result|FAILED|panicked"
timeout 150 .device/softloss-tests --ignored --nocapture exhaustive 2>&1 | grep -E "exhaustive f32|result"

step "install the wheel"
python3 -m pip install -q --no-deps --no-index --target /tmp/site dist/softloss-*.whl || exit 1
export PYTHONPATH=/tmp/site
python3 -c 'import softloss; print(softloss.__file__, softloss.config())'

step "pytest (PyTorch installed)"
(cd "$(mktemp -d)" && timeout 200 python3 -m pytest "$root/tests" -c "$root/pyproject.toml" \
    --rootdir "$root" -q -p no:cacheprovider -n 8 2>&1 | grep -vE "^SKIPPED" | tail -25) \
    | tee "$out/pytest.txt"

step "thread scaling"
timeout 100 python3 benches/threads.py --shapes 2048x50257 1000000x10 \
    --only softmax log_softmax cross_entropy_with_grad bce_with_logits_with_grad \
    | tee "$out/threads.txt"
timeout 60 python3 benches/threads.py --budget 0.1 --shapes 256x1000 1024x1000 \
    --only softmax log_softmax softmax_backward log_softmax_backward \
    | tee "$out/threads-256x1000.txt"

step "side by side with PyTorch, default threads"
for dtype in float32 float64; do
    timeout 200 python3 benches/compare.py --budget 0.2 --dtypes $dtype --shapes 1x10 64x10 \
        256x1000 512x32000 2048x50257 1000000x10 8x21x256x256:1 2>/dev/null \
        | tee "$out/compare-$dtype.txt"
done
step done
