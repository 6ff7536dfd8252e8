#!/usr/bin/env bash
# Measures the README's performance rows in one run and prints them as markdown tables:
#
#   1. callgrind instructions per call of the hot paths (benches/instructions.rs), owned and
#      `&'static` / `into_static`, each case its own program with one codegen unit, so that one
#      case's code cannot change how the compiler inlines another's;
#   2. criterion medians of every bench group behind the README's tables (short but sane
#      settings: 1 s warm-up, 3 s measurement, criterion's default 100 samples).
#
# With --baseline REV, the same is measured for REV, built in a temporary git worktree that
# shares this checkout's target directory (dependencies are built once), and every row shows
# both, the benches of the two builds alternating bench by bench so that a change in the
# machine's load hits both alike.
#
# Usage:
#   scripts/perf-tables.sh [--baseline REV] [--only callgrind|criterion] [--bench NAME]...
#                          [--case PATH/FORM]... [--filter REGEX] [--measurement-time S]
#                          [--warm-up-time S]
#
#   --bench NAME      criterion bench to run (repeatable); default: retry breaker failover
#                     chaos core http http_stack (the README's tables, in its order)
#   --case PATH/FORM  callgrind case (repeatable); default: every case of
#                     benches/instructions.rs (failover, failover-hop, breaker-closed,
#                     breaker-open, retry; owned and static)
#   --filter REGEX    passed to criterion: only the matching benchmark ids
#
# Needs valgrind (callgrind_annotate), python3 and git. Run it on a quiet machine: it takes
# about half an hour for everything (an hour with a baseline).
set -euo pipefail

root=$(git rev-parse --show-toplevel)
cd "$root"

baseline=""
only=""
benches=()
cases=()
filter=""
measure=3
warmup=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --baseline) baseline=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --bench) benches+=("$2"); shift 2 ;;
        --case) cases+=("$2"); shift 2 ;;
        --filter) filter=$2; shift 2 ;;
        --measurement-time) measure=$2; shift 2 ;;
        --warm-up-time) warmup=$2; shift 2 ;;
        -h | --help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
[[ ${#benches[@]} -gt 0 ]] || benches=(retry breaker failover chaos core http http_stack)
if [[ ${#cases[@]} -eq 0 ]]; then
    for path in failover failover-hop breaker-closed breaker-open retry; do
        cases+=("$path/owned" "$path/static")
    done
fi

target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d "${TMPDIR:-/tmp}/perf-tables.XXXXXX")
trees=("$root")
labels=("current")
cleanup() {
    if [[ -n "$baseline" && -d "$work/baseline" ]]; then
        git -C "$root" worktree remove --force "$work/baseline" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if [[ -n "$baseline" ]]; then
    rev=$(git rev-parse --short "$baseline")
    git worktree add --quiet --detach "$work/baseline" "$rev"
    # The same measuring program in both builds: this checkout's instructions harness.
    cp "$root/benches/instructions.rs" "$work/baseline/benches/instructions.rs"
    if ! grep -q 'name = "instructions"' "$work/baseline/Cargo.toml"; then
        printf '\n[[bench]]\nname = "instructions"\nharness = false\n' >>"$work/baseline/Cargo.toml"
    fi
    trees=("$work/baseline" "$root")
    labels=("baseline $rev" "current $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo +)")
fi

# Features a bench needs (its `required-features`).
features_of() {
    case "$1" in
        http) echo "--features http" ;;
        http_stack) echo "--features reqwest" ;;
        *) echo "" ;;
    esac
}

# --- callgrind -------------------------------------------------------------------------------

# Instructions per call of one case in one tree: (11 000 calls − 1 000 calls) / 10 000.
callgrind_case() {
    local tree=$1 case=$2 bin out
    if ! (cd "$tree" && CARGO_TARGET_DIR=$target cargo rustc --quiet --profile bench \
        --bench instructions -- -C codegen-units=1 --cfg "instructions_case=\"$case\"" \
        >"$work/build.log" 2>&1); then
        echo "n/a"
        return
    fi
    bin=$(ls -t "$target"/release/deps/instructions-* | grep -v '\.d$' | head -1)
    cp "$bin" "$work/instructions"
    local totals=()
    for n in 1000 11000; do
        out="$work/callgrind.$n"
        if ! valgrind --tool=callgrind --callgrind-out-file="$out" "$work/instructions" \
            "${case%/*}" "${case#*/}" "$n" >/dev/null 2>&1; then
            echo "n/a"
            return
        fi
        totals+=("$(callgrind_annotate "$out" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')")
    done
    echo $(((totals[1] - totals[0]) / 10000))
}

if [[ "$only" != "criterion" ]]; then
    declare -A counts
    for case in "${cases[@]}"; do
        for i in "${!trees[@]}"; do
            counts["$i/$case"]=$(callgrind_case "${trees[$i]}" "$case")
            echo "callgrind ${labels[$i]} $case: ${counts["$i/$case"]}" >&2
        done
    done
    echo
    echo "Instructions per call (callgrind; \`scripts/perf-tables.sh --only callgrind\`):"
    echo
    paths=()
    for case in "${cases[@]}"; do
        p=${case%/*}
        [[ " ${paths[*]} " == *" $p "* ]] || paths+=("$p")
    done
    if [[ ${#trees[@]} -eq 2 ]]; then
        echo "| path | owned (${labels[0]} → ${labels[1]}) | \`&'static\` / \`into_static\` (${labels[0]} → ${labels[1]}) |"
    else
        echo "| path | owned | \`&'static\` / \`into_static\` |"
    fi
    echo "| --- | ---: | ---: |"
    for p in "${paths[@]}"; do
        row="| $p"
        for form in owned static; do
            if [[ ${#trees[@]} -eq 2 ]]; then
                row+=" | ${counts["0/$p/$form"]:-–} → ${counts["1/$p/$form"]:-–}"
            else
                row+=" | ${counts["0/$p/$form"]:-–}"
            fi
        done
        echo "$row |"
    done
fi

# --- criterion -------------------------------------------------------------------------------

if [[ "$only" != "callgrind" ]]; then
    for bench in "${benches[@]}"; do
        for i in "${!trees[@]}"; do
            home="$work/criterion.$i"
            mkdir -p "$home"
            args=(--warm-up-time "$warmup" --measurement-time "$measure" --noplot)
            [[ -n "$filter" ]] && args=("$filter" "${args[@]}")
            echo "criterion ${labels[$i]} $bench" >&2
            # shellcheck disable=SC2046 # the features are two words, or none
            if ! (cd "${trees[$i]}" && CARGO_TARGET_DIR=$target CRITERION_HOME=$home \
                cargo bench --quiet $(features_of "$bench") --bench "$bench" -- "${args[@]}" \
                >"$work/bench.$i.$bench.log" 2>&1); then
                echo "  failed (see the log below)" >&2
                tail -5 "$work/bench.$i.$bench.log" >&2
            fi
        done
    done
    echo
    echo "Criterion medians (ns per call; --warm-up-time $warmup --measurement-time $measure):"
    echo
    python3 - "$work" "${#trees[@]}" "${labels[@]}" <<'PY'
import json, pathlib, sys

work, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
labels = sys.argv[3:3 + n]

def medians(home):
    out = {}
    for est in sorted(home.glob("**/new/estimates.json")):
        bench = json.loads((est.parent / "benchmark.json").read_text())
        out[bench["full_id"]] = json.loads(est.read_text())["median"]["point_estimate"]
    return out

runs = [medians(work / f"criterion.{i}") for i in range(n)]
ids = sorted(set().union(*runs))

def fmt(ns):
    return "–" if ns is None else (f"{ns:.1f} ns" if ns < 1000 else f"{ns / 1000:.2f} µs")

if n == 2:
    print(f"| benchmark | {labels[0]} | {labels[1]} | change |")
    print("| --- | ---: | ---: | ---: |")
    for i in ids:
        a, b = runs[0].get(i), runs[1].get(i)
        change = f"{(b / a - 1) * 100:+.1f} %" if a and b else ""
        print(f"| {i} | {fmt(a)} | {fmt(b)} | {change} |")
else:
    print("| benchmark | median |")
    print("| --- | ---: |")
    for i in ids:
        print(f"| {i} | {fmt(runs[0].get(i))} |")
PY
fi
