#!/usr/bin/env bash
# Installs what building and testing need on a fresh machine (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
if [ -f setup.py ]; then
    python3 -m pip install --quiet --disable-pip-version-check .
fi
