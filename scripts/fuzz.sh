#!/usr/bin/env bash
# fuzz.sh [--ci | SECONDS]: configures a clang build dir with -Dfuzz=true, builds every
# libFuzzer target of tests/fuzz/ and runs each on a copy of its seed corpus
# (tests/fuzz/corpus/<name>/; every input there, including the ones past campaigns found,
# is replayed first).
#   SECONDS  explore: a random seed, SECONDS per target (default 20). Use long runs
#            (600 and more) to look for new bugs; add what they find to the corpus.
#   --ci     the CI step: seed 1 and a fixed number of runs per target, so the same code
#            gives the same verdict on every machine (a time limit makes the campaign
#            depend on the machine's speed and a red CI on luck).
# Fails if any target crashes, leaks or times out. Crash inputs are kept in
# build-fuzz/crashes/. Writes one line per target ("fuzz_pth ok") to build-fuzz/summary,
# which scripts/summarize_tests.py counts.
set -uo pipefail
mode=${1:-20}
cd "$(dirname "$0")/.."
dir=${TG_FUZZ_BUILD_DIR:-build-fuzz}
if [[ $mode == --ci ]]; then
    limit=(-seed=1 -runs="${TG_FUZZ_RUNS:-150000}")
    what="seed 1"
elif [[ $mode =~ ^[0-9]+$ ]]; then
    limit=(-max_total_time="$mode")
    what="${mode}s"
else
    echo "usage: fuzz.sh [--ci | SECONDS]" >&2
    exit 2
fi
if ! command -v clang >/dev/null; then echo "fuzz.sh: clang is required" >&2; exit 1; fi
if [[ ! -f $dir/build.ninja ]]; then
    CC=clang meson setup "$dir" -Dfuzz=true -Db_lundef=false -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined >/dev/null || exit 1
fi
targets=()
for src in tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    targets+=("$t")
done
: >"$dir/summary"
ninja -C "$dir" $(printf 'tests/fuzz/%s ' "${targets[@]}") >/dev/null || {
    ninja -C "$dir" $(printf 'tests/fuzz/%s ' "${targets[@]}")
    printf '%s FAILED\n' "${targets[@]}" >"$dir/summary"
    exit 1; }
mkdir -p "$dir/crashes"
status=0
for t in "${targets[@]}"; do
    name=${t#fuzz_}
    work=$(mktemp -d)
    [[ -d tests/fuzz/corpus/$name ]] && cp tests/fuzz/corpus/$name/* "$work"/ 2>/dev/null
    if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$dir/tests/fuzz/$t" \
        "${limit[@]}" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$dir/crashes/$t-" -print_final_stats=1 "$work" \
        >"$dir/$t.log" 2>&1; then
        runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$dir/$t.log" | grep -o '[0-9]*$')
        echo "fuzz $t: ok ($runs runs, $what)"
        echo "$t ok" >>"$dir/summary"
    else
        echo "fuzz $t: FAILED (log: $dir/$t.log, inputs: $dir/crashes/)" >&2
        tail -40 "$dir/$t.log" >&2
        echo "$t FAILED" >>"$dir/summary"
        status=1
    fi
    rm -rf "$work"
done
exit $status
