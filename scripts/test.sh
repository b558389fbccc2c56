#!/usr/bin/env bash
# Runs every test: the Swift engine's (swift test) and its documentation's examples
# (scripts/doc_snippets.py), the integration package's (swift test in
# Integrations/: Vapor and Hummingbird drivers; it builds both frameworks, ~12 min when cold)
# and, once the Python package is installed, the Python package's (pytest).
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
echo "== Swift examples in the README and DocC =="
python3 scripts/doc_snippets.py   # type-checks them against the modules swift test built
swift_tests Integrations /tmp/diskcache-swift-test-integrations.log

if [ -d tests/python ]; then
    echo "== Python tests =="
    python3 -m pytest tests/python -q -p no:cacheprovider
fi
