#!/usr/bin/env bash
# Runs every test: the Swift engine's (swift test) and, once the Python package is
# installed, the Python package's (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Swift tests =="
swift test 2>&1 | tee /tmp/diskcache-swift-test.log | grep -E '^(✘|✔ Suite|✔ Test run|Test run|error)' || true
if ! grep -qE '^✔ Test run with [0-9]+ tests? .*passed' /tmp/diskcache-swift-test.log; then
    echo "Swift tests failed; full log in /tmp/diskcache-swift-test.log" >&2
    tail -50 /tmp/diskcache-swift-test.log >&2
    exit 1
fi
tail -1 /tmp/diskcache-swift-test.log

if [ -d tests/python ]; then
    echo "== Python tests =="
    python3 -m pytest tests/python -q -p no:cacheprovider
fi
