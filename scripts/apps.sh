#!/usr/bin/env bash
# Runs real applications that use python-diskcache on diskcache_swift, unchanged: their own
# diskcache-related tests, with `import diskcache` mapped to diskcache_swift
# (scripts/diskcache_shim). Prints PASS/FAIL per application; exits non-zero if any failed.
#
#   outlines    tests/test_cache.py (its sdist)             Cache + a Disk subclass, memoize-like
#   dspy        tests/clients/test_cache.py, test_disk_serialization.py (its git tag)
#                                                           FanoutCache + a restricted-unpickling Disk
#   aider-chat  tests/basic/test_repomap.py (its sdist), then a check that RepoMap's tags
#               cache is really a diskcache_swift Cache (aider silently falls back to a dict
#               when the cache raises sqlite3/OS errors, which would hide a failure)
#   dvc-data    tests/hashfile, tests/index (its sdist)      HashesCache's SQL on _sql/_con, Index
#   dvc         dvc init; dvc add data; rm data; dvc checkout; dvc status, in a temp git repo
#
# Their code is downloaded at run time (pip download --no-binary from PyPI; dspy's sdist has
# no tests, so they come from GitHub's archive of the tag, or from DSPY_SRC=<checkout of that
# tag> on machines without GitHub access) and never committed.
#
# Environment: APPS_DIR (work dir, default .build-apps/, reused: the venv is kept),
# PYTHON (interpreter for the venv, default python3), APPS_WHEEL (install this wheel instead
# of the package built in place), APPS_REFERENCE=1 (run everything on python-diskcache
# instead: tells our failures from the applications' own), APPS_ONLY="outlines dvc-data ..."
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${APPS_DIR:-$ROOT/.build-apps}"
VENV="$WORK/venv"
PYTHON="${PYTHON:-python3}"
ONLY="${APPS_ONLY:-outlines dspy aider-chat dvc-data dvc}"

OUTLINES_VERSION=1.3.3
DSPY_VERSION=3.3.1
AIDER_VERSION=0.86.2
DVC_DATA_VERSION=3.18.3
DVC_VERSION=3.67.1

mkdir -p "$WORK/src"
start=$SECONDS
say() { printf 'apps.sh: %s\n' "$*" >&2; }

# -- the venv: the applications, their test tools, and our package ------------------------
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV" || exit 2
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
say "installing the applications (pinned) into $VENV"
"${PIP[@]}" "outlines==$OUTLINES_VERSION" "dspy==$DSPY_VERSION" "aider-chat==$AIDER_VERSION" \
    "dvc-data==$DVC_DATA_VERSION" "dvc==$DVC_VERSION" \
    pytest pytest-mock pytest-asyncio pytest-benchmark || exit 2

ABI="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
if [ -n "${APPS_WHEEL:-}" ]; then
    "${PIP[@]}" --force-reinstall --no-deps "$APPS_WHEEL" || exit 2
    OURS=""
elif [ -f "$ROOT/python/diskcache_swift/_engine$ABI" ]; then
    OURS="$ROOT/python"   # built in place (python3 setup.py build_ext --inplace)
else
    say "building diskcache_swift into the venv (no in-place build for $ABI)"
    "${PIP[@]}" "$ROOT" || exit 2
    OURS=""
fi
if [ "${APPS_REFERENCE:-0}" = 1 ]; then
    export PYTHONPATH=""
    EXPECT=diskcache
else
    export PYTHONPATH="$ROOT/scripts/diskcache_shim${OURS:+:$OURS}"
    EXPECT=diskcache_swift
fi
got="$("$VENV/bin/python" -c 'import diskcache, diskcache.core; print(diskcache.__name__, diskcache.core.__name__)')"
if [ "$got" != "$EXPECT $EXPECT.core" ]; then
    say "'import diskcache' gives '$got', expected $EXPECT"
    exit 2
fi
say "setup took $((SECONDS - start)) s; diskcache is $EXPECT"

sdist() {  # sdist NAME VERSION -> prints the unpacked directory
    local dir="$WORK/src/$1-$2"
    if [ ! -d "$dir" ]; then
        "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
            --no-binary :all: "$1==$2" -d "$WORK/src/dl" >&2 || return 1
        local archive="$WORK/src/dl/$(echo "$1" | tr - _)-$2.tar.gz"
        [ -f "$archive" ] || archive="$WORK/src/dl/$1-$2.tar.gz"
        mkdir -p "$dir" && tar xzf "$archive" -C "$dir" --strip-components=1 || return 1
    fi
    echo "$dir"
}

run_pytest() {  # run_pytest DIR ARGS... (in DIR, isolated from this repository's conftest)
    local dir="$1"
    shift
    (cd "$dir" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider --rootdir=. -o addopts="" "$@")
}

app_outlines() {
    local dir
    dir="$(sdist outlines "$OUTLINES_VERSION")" || return 1
    run_pytest "$dir" tests/test_cache.py
}

app_dspy() {
    local dir="${DSPY_SRC:-$WORK/src/dspy-$DSPY_VERSION}"
    if [ ! -d "$dir/tests" ]; then
        mkdir -p "$dir"
        curl -fsSL --max-time 120 "https://github.com/stanfordnlp/dspy/archive/refs/tags/$DSPY_VERSION.tar.gz" \
            | tar xz -C "$dir" --strip-components=1 || {
            say "dspy: could not download its tests from GitHub; set DSPY_SRC to a checkout of tag $DSPY_VERSION"
            rm -rf "$dir"
            return 1
        }
    fi
    # Its tests, against the dspy installed in the venv (not the checkout's package).
    local tests="$WORK/src/dspy-tests-$DSPY_VERSION"
    [ -d "$tests" ] || { mkdir -p "$tests" && cp -r "$dir/tests" "$tests/tests"; }
    # test_corrupt_disk_entries_return_none corrupts an entry by opening the shards' SQLite
    # files (cache.db) itself: it tests python-diskcache's file format, which diskcache_swift
    # does not have (on diskcache_swift it finds no cache.db and corrupts nothing).
    local deselect=()
    if [ "$EXPECT" = diskcache_swift ]; then
        say "dspy: skipping test_corrupt_disk_entries_return_none (it edits python-diskcache's SQLite files)"
        deselect=(--deselect tests/clients/test_cache.py::test_corrupt_disk_entries_return_none)
    fi
    run_pytest "$tests" tests/clients/test_cache.py tests/clients/test_disk_serialization.py "${deselect[@]}"
}

app_aider_chat() {
    local dir
    dir="$(sdist aider-chat "$AIDER_VERSION")" || return 1
    run_pytest "$dir" tests/basic/test_repomap.py || return 1
    (cd "$(mktemp -d)" && "$VENV/bin/python" - "$EXPECT" <<'EOF'
import os, subprocess, sys
from aider.io import InputOutput
from aider.models import Model
from aider.repomap import RepoMap
subprocess.run(['git', 'init', '-q'], check=True)
with open('a.py', 'w') as f:
    f.write('def alpha():\n    return 1\n\nclass Beta:\n    def gamma(self):\n        return alpha()\n')
repo_map = RepoMap(root='.', main_model=Model('gpt-3.5-turbo'), io=InputOutput())
text = repo_map.get_repo_map([], [os.path.abspath('a.py')])
cache = repo_map.TAGS_CACHE
assert type(cache).__module__.split('.')[0] == sys.argv[1], 'tags cache is %r' % type(cache)
assert len(cache) == 1 and 'alpha' in text, (len(cache), text)
print('aider RepoMap tags cache: %s, %d entry' % (type(cache).__module__, len(cache)))
EOF
    )
}

app_dvc_data() {
    local dir
    dir="$(sdist dvc-data "$DVC_DATA_VERSION")" || return 1
    # Without pytest-asyncio (installed for dspy): dvc-data turns warnings into errors, and the
    # plugin warns at start-up about a setting dvc-data does not make.
    run_pytest "$dir" -p no:asyncio tests/hashfile tests/index
}

app_dvc() {
    local repo
    repo="$(mktemp -d "$WORK/dvc-repo.XXXXXX")"
    (
        set -e
        cd "$repo"
        export DVC_NO_ANALYTICS=1
        git init -q && git config user.email apps@example.invalid && git config user.name apps.sh
        "$VENV/bin/dvc" init -q
        # The state databases (dvc-data's HashesCache) go here rather than /var/tmp/dvc.
        "$VENV/bin/dvc" config --local core.site_cache_dir "$repo/.site-cache"
        mkdir data
        for i in 1 2 3; do echo "content $i" >"data/f$i.txt"; done
        "$VENV/bin/dvc" add -q data
        rm -rf data
        "$VENV/bin/dvc" checkout -q
        [ "$(cat data/f2.txt)" = "content 2" ]
        "$VENV/bin/dvc" status | grep -q "up to date"
        echo changed >data/f1.txt
        "$VENV/bin/dvc" status | grep -q "modified"
        "$VENV/bin/dvc" add -q data
        "$VENV/bin/dvc" status | grep -q "up to date"
        ls -R .site-cache | grep -q "$([ "$EXPECT" = diskcache ] && echo cache.db || echo control)"
        echo "dvc add/checkout/status: ok"
    )
}

failed=0
summary=()
for app in $ONLY; do
    say "== $app"
    t0=$SECONDS
    if "app_${app//-/_}"; then
        summary+=("PASS  $app ($((SECONDS - t0)) s)")
    else
        summary+=("FAIL  $app ($((SECONDS - t0)) s)")
        failed=1
    fi
done
echo
echo "== applications on $EXPECT (total $((SECONDS - start)) s)"
printf '%s\n' "${summary[@]}"
exit $failed
