#!/usr/bin/env bash
# Runs every test: the Swift engine's (swift test), the Vapor and Hummingbird integration
# packages' (swift test in each; they build Vapor and Hummingbird, a few minutes each when
# cold) and, once the Python package is installed, the Python package's (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."

# swift test in package $1, output kept in log $2; fails unless the run ends with a passing
# Swift Testing summary.
swift_tests() {
    local package=$1 log=$2
    echo "== Swift tests: $package =="
    swift test --package-path "$package" 2>&1 | tee "$log" | grep -E '^(✘|✔ Suite|✔ Test run|Test run|error)' || true
    if ! grep -qE '^✔ Test run with [0-9]+ tests? .*passed' "$log"; then
        echo "Swift tests of $package failed; full log in $log" >&2
        tail -50 "$log" >&2
        exit 1
    fi
    tail -1 "$log"
}

swift_tests . /tmp/diskcache-swift-test.log
swift_tests Integrations/DiskCacheVapor /tmp/diskcache-swift-test-vapor.log
swift_tests Integrations/DiskCacheHummingbird /tmp/diskcache-swift-test-hummingbird.log

if [ -d tests/python ]; then
    echo "== Python tests =="
    python3 -m pytest tests/python -q -p no:cacheprovider
fi
