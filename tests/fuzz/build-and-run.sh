#!/bin/sh
# build-and-run.sh [--skip-without-clang] BUILD_DIR SECONDS JOBS
# Configure BUILD_DIR for the libFuzzer targets (clang, -Dfuzzing=true,
# ASan+UBSan), build it with JOBS parallel jobs and run every target for
# SECONDS (run-fuzzers.sh).  With --skip-without-clang (make check-slow), a
# machine without clang or without libFuzzer prints why and exits 0.
set -eu
skip=false
if [ "${1:-}" = --skip-without-clang ]; then
    skip=true
    shift
fi
build=$1
secs=$2
jobs=${3:-2}
src=$(cd "$(dirname "$0")" && pwd)

missing() {
    if $skip; then
        echo "fuzz: SKIPPED: $1 (the libFuzzer targets need clang with" \
             "-fsanitize=fuzzer; see docs/testing.md)"
        exit 0
    fi
    echo "fuzz: $1" >&2
    exit 1
}

command -v clang >/dev/null 2>&1 || missing "clang not found"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{\n    return 0;\n}\n' \
    > "$probe/probe.c"
clang -fsanitize=fuzzer,address "$probe/probe.c" -o "$probe/probe" \
    >/dev/null 2>&1 || missing "clang cannot link -fsanitize=fuzzer (libFuzzer)"

if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" -Dfuzzing=true \
        -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C "$build" -j "$jobs"
exec "$src/run-fuzzers.sh" "$build" "$secs"
