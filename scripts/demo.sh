#!/usr/bin/env bash
# The main job: install everything (Python package with its Swift engine, test tools), then
# run the demo: a slow function memoized across processes, and the cache's own speed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 examples/demo.py "$@"
