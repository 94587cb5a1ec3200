#!/usr/bin/env bash
# fuzz.sh SECONDS: configures a clang build dir with -Dfuzz=true, builds every libFuzzer
# target of tests/fuzz/ and runs each for SECONDS on a copy of its seed corpus
# (tests/fuzz/corpus/<name>/). Fails if any target crashes, leaks or times out.
# CI runs `scripts/fuzz.sh 20`. Crash inputs are kept in build-fuzz/crashes/.
set -uo pipefail
secs=${1:-20}
cd "$(dirname "$0")/.."
dir=${TG_FUZZ_BUILD_DIR:-build-fuzz}
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
ninja -C "$dir" $(printf 'tests/fuzz/%s ' "${targets[@]}") >/dev/null || {
    ninja -C "$dir" $(printf 'tests/fuzz/%s ' "${targets[@]}"); exit 1; }
mkdir -p "$dir/crashes"
status=0
for t in "${targets[@]}"; do
    name=${t#fuzz_}
    work=$(mktemp -d)
    [[ -d tests/fuzz/corpus/$name ]] && cp tests/fuzz/corpus/$name/* "$work"/ 2>/dev/null
    if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$dir/tests/fuzz/$t" \
        -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$dir/crashes/$t-" -print_final_stats=1 "$work" \
        >"$dir/$t.log" 2>&1; then
        echo "fuzz $t: ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$dir/$t.log" | grep -o '[0-9]*$') runs in ${secs}s)"
    else
        echo "fuzz $t: FAILED (log: $dir/$t.log, inputs: $dir/crashes/)" >&2
        tail -40 "$dir/$t.log" >&2
        status=1
    fi
    rm -rf "$work"
done
exit $status
