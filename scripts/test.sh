#!/usr/bin/env bash
# test.sh: installs what is missing, builds tgfinetune twice (release with warnings as
# errors, and address+undefined sanitizers), runs every test suite in both, runs the fuzz
# targets (a fixed-seed campaign with a fixed number of runs, so its verdict does not depend
# on the machine's speed), and ends with one line "N passed, N failed" summing Check's
# counts and one count per fuzz target.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test || exit 1
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
status=0
run_build() {  # dir, meson options...
    local dir=$1; shift
    if [[ ! -d $dir ]]; then meson setup "$dir" "$@" >/dev/null || return 1; fi
    ninja -C "$dir" >/dev/null || { ninja -C "$dir"; return 1; }
    meson test -C "$dir" --print-errorlogs --num-processes 1 || true
}
run_build build-test -Dwerror=true || status=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
    run_build build-asan -Db_sanitize=address,undefined -Dbuildtype=debugoptimized -Dwerror=true || status=1
rm -f build-fuzz/summary
bash scripts/fuzz.sh --ci || status=1
/usr/bin/python3 scripts/summarize_tests.py --fuzz build-fuzz/summary build-test build-asan ${TG_EXTRA_LOGS:-}
rc=$?
[[ $status -ne 0 ]] && rc=1
exit $rc
