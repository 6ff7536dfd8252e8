#!/usr/bin/env bash
# Runs the whole test suite (`cargo test --all-features`) N times in a row (default 10) while two
# CPU-bound busy loops occupy the cores, as on a loaded CI machine. Stops at the first failing
# run, shows its failures, and prints one summary line either way. The busy loops end with the
# script (on success, failure or interruption).
#
# Usage: scripts/stress-tests.sh [RUNS]
set -euo pipefail

runs="${1:-10}"
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [RUNS]  (RUNS: a positive number of runs, default 10)" >&2
    exit 2
fi

cd "$(dirname "$0")/.."

busy=()
log="$(mktemp)"
cleanup() {
    for pid in "${busy[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Build first, unloaded: the runs measure the tests, not the compiler.
cargo test --all-features --no-run --quiet

for _ in 1 2; do
    (while :; do :; done) &
    busy+=("$!")
done

start=$SECONDS
for ((run = 1; run <= runs; run++)); do
    if cargo test --all-features >"$log" 2>&1; then
        echo "run $run/$runs passed"
    else
        grep -E -A4 '^test .* FAILED$|^---- |panicked at' "$log" | head -60 || tail -40 "$log"
        echo "stress: FAILED at run $run of $runs ($((run - 1)) passed before it) under two busy processes, $((SECONDS - start)) s"
        exit 1
    fi
done
echo "stress: all $runs runs passed under two busy processes, $((SECONDS - start)) s"
