#!/usr/bin/env bash
# Fuzzes the segment/record decoder and the open path with libFuzzer for N seconds
# (default 120): builds Sources/dc-fuzz with -sanitize=fuzzer,address (separate build path,
# so the normal build is untouched), seeds fuzz/corpus/ with segments of real caches, and
# saves crashing inputs to fuzz/crashes/. Extra arguments go to libFuzzer.
#
#   bash scripts/fuzz.sh 600 -jobs=2 -workers=2
#   swift run dc-fuzz fuzz/crashes/crash-…     # replay an input without the sanitizer
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
shift || true

build=.build-fuzz
mkdir -p "$build"
# lld: gold fails to link the sanitizer build. SwiftPM renames an executable's main, so the
# target calls libFuzzer's driver itself (see Sources/dc-fuzz/FuzzMain.swift).
if ! swift build -c release --product dc-fuzz --build-path "$build" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DDC_FUZZ -Xswiftc -use-ld=lld > "$build/build.log" 2>&1; then
    grep -vE "^\[" "$build/build.log" >&2
    echo "fuzz build failed" >&2
    exit 1
fi
bin="$build/release/dc-fuzz"

mkdir -p fuzz/corpus fuzz/crashes
"$bin" --make-corpus fuzz/corpus
# Inputs kept as regression tests seed the run too.
if [ -d fuzz/regressions ]; then cp -n fuzz/regressions/* fuzz/corpus/ 2>/dev/null || true; fi

echo "fuzzing for ${seconds}s (corpus: $(ls fuzz/corpus | wc -l) files)"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}"
# Swift traps are reported by libFuzzer as deadly signals; the runtime's backtracer would only
# race with the sanitizer.
export SWIFT_BACKTRACE=enable=no
"$bin" fuzz/corpus -max_total_time="$seconds" -max_len=65536 -timeout=20 -rss_limit_mb=4096 \
    -artifact_prefix=fuzz/crashes/ -print_final_stats=1 "$@"
