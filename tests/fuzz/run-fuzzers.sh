#!/bin/sh
# run-fuzzers.sh BUILD_DIR SECONDS: run each libFuzzer target for SECONDS
# with ASan/UBSan, starting from the seed corpus in tests/fuzz/corpus/.
set -eu
build=$1
secs=${2:-600}
src=$(cd "$(dirname "$0")" && pwd)
work=${FUZZ_WORKDIR:-$build/fuzz-work}
status=0
ran=0
failed=
for target in "$build"/tests/fuzz/fuzz-*; do
    # Only the fuzzer programs: not meson's fuzz-NAME.p object directories
    # (directories pass -x) nor the corpus replay programs.
    [ -f "$target" ] && [ -x "$target" ] || continue
    case "$target" in *-replay) continue ;; esac
    name=$(basename "$target" | sed 's/^fuzz-//')
    mkdir -p "$work/$name"
    echo "== fuzzing $name for $secs s (corpus $work/$name)"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        "$target" -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 \
        -max_len=1048576 -artifact_prefix="$work/$name-" \
        "$work/$name" "$src/corpus/$name" || { status=1; failed="$failed $name"; }
    ran=$((ran + 1))
done
if [ $ran -eq 0 ]; then
    echo "fuzz: no fuzz targets in $build/tests/fuzz (configured with -Dfuzzing=true?)"
    exit 1
fi
echo "fuzz: $ran target(s) run for $secs s each, failed:${failed:- none}"
exit $status
