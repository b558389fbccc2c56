#!/usr/bin/env bash
# Runs real applications that use python-diskcache on diskcache_swift, unchanged: their own
# diskcache-related tests, with `import diskcache` mapped to diskcache_swift
# (scripts/diskcache_shim). Prints PASS/FAIL per application; exits non-zero if any failed.
#
#   outlines    tests/test_cache.py (its sdist)             Cache + a Disk subclass, memoize-like
#   dspy        scripts/apps/check_dspy.py: dspy's Cache and request_cache through its API
#               (FanoutCache, a restricted-unpickling Disk, another process, size limit); then
#               its tests/clients/test_cache.py, test_disk_serialization.py when its source
#               is at hand (below)
#   aider-chat  tests/basic/test_repomap.py (its sdist), then scripts/apps/check_aider.py
#   dvc-data    tests/hashfile, tests/index (its sdist)      HashesCache's SQL on _sql/_con, Index
#   dvc         dvc init; dvc add data; rm data; dvc checkout; dvc status, in a temp git repo
#
# Each application gets a venv of its own (dvc shares dvc-data's), installed from PyPI in
# parallel: one venv for all of them took pip's resolver 10+ minutes of backtracking between
# their pins. Their code is downloaded at run time (pip download --no-binary) and never
# committed. dspy's sdist has no tests: they come from DSPY_SRC=<checkout of the tag>, else
# DSPY_GIT=<a git directory holding the tag or, at HEAD, that release>, else GitHub's archive
# of the tag; without any, the upstream part is reported NOT RUN (our check still runs).
#
# `apps.sh --install` only installs the venvs (CI starts it early, in the background).
# Environment: APPS_JOBS (applications run at once, default 2), APPS_DIR (work dir, default .build-apps/; venvs are kept and reinstalled only
# when their requirements change), PYTHON (interpreter for the venvs, default python3),
# APPS_WHEEL (install this wheel; default: a wheel built from this tree once per run),
# APPS_REFERENCE=1 (run everything on python-diskcache instead: tells our failures from the
# applications' own), APPS_ONLY="outlines dvc-data ..." (those only: installs only their venvs).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${APPS_DIR:-$ROOT/.build-apps}"
PYTHON="${PYTHON:-python3}"
ONLY="${APPS_ONLY:-dspy aider-chat dvc-data outlines dvc}"  # longest first

OUTLINES_VERSION=1.3.3
DSPY_VERSION=3.3.1
AIDER_VERSION=0.86.2
DVC_DATA_VERSION=3.18.3
DVC_VERSION=3.67.1
TEST_TOOLS="pytest pytest-mock"

# The venv each application runs in, and what that venv holds.
venv_of() {
    case $1 in
        outlines) echo outlines ;; dspy) echo dspy ;; aider-chat) echo aider ;;
        dvc-data | dvc) echo dvc ;;
        *) return 1 ;;
    esac
}
requirements_of() {
    case $1 in
        outlines) echo "outlines==$OUTLINES_VERSION $TEST_TOOLS" ;;
        dspy) echo "dspy==$DSPY_VERSION numpy $TEST_TOOLS pytest-asyncio" ;;
        aider) echo "aider-chat==$AIDER_VERSION $TEST_TOOLS" ;;
        dvc) echo "dvc-data==$DVC_DATA_VERSION dvc==$DVC_VERSION $TEST_TOOLS pytest-benchmark" ;;
    esac
}

mkdir -p "$WORK/src"
start=$SECONDS
say() { printf 'apps.sh: %s\n' "$*" >&2; }

venvs=()
for app in $ONLY; do
    v=$(venv_of "$app") || { say "unknown application '$app'"; exit 2; }
    [[ " ${venvs[*]} " == *" $v "* ]] || venvs+=("$v")
done

# -- the venvs, in parallel ----------------------------------------------------------------
install_venv() {  # install_venv NAME: (re)creates $WORK/venv-NAME unless its stamp matches
    local v=$1 dir="$WORK/venv-$1" want
    want="$("$PYTHON" -VV) $(requirements_of "$1")"
    if [ "$(cat "$dir/.apps-stamp" 2>/dev/null)" != "$want" ]; then
        rm -rf "$dir"
        "$PYTHON" -m venv "$dir" &&
            "$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
                $(requirements_of "$v") &&
            echo "$want" >"$dir/.apps-stamp"
    fi
}
say "installing the applications' venvs (${venvs[*]}) in $WORK"
pids=()
for v in "${venvs[@]}"; do
    install_venv "$v" >"$WORK/install-$v.log" 2>&1 &
    pids+=($!)
done
for i in "${!venvs[@]}"; do
    if ! wait "${pids[$i]}"; then
        say "installing venv-${venvs[$i]} failed:"; tail -20 "$WORK/install-${venvs[$i]}.log" >&2
        exit 2
    fi
done
if [ "${1:-}" = --install ]; then
    say "venvs installed in $((SECONDS - start)) s"
    exit 0
fi

# -- our package, into each venv -----------------------------------------------------------
if [ "${APPS_REFERENCE:-0}" = 1 ]; then
    export PYTHONPATH=""
    EXPECT=diskcache
else
    wheel="${APPS_WHEEL:-}"
    if [ -z "$wheel" ]; then
        say "building a wheel of this tree"
        rm -rf "$WORK/wheel"
        "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$WORK/wheel" "$ROOT" \
            >"$WORK/wheel.log" 2>&1 || { tail -30 "$WORK/wheel.log" >&2; exit 2; }
        wheel=$(ls "$WORK"/wheel/diskcache_swift-*.whl)
    fi
    for v in "${venvs[@]}"; do
        "$WORK/venv-$v/bin/python" -m pip install --quiet --disable-pip-version-check \
            --force-reinstall --no-deps "$wheel" || exit 2
    done
    export PYTHONPATH="$ROOT/scripts/diskcache_shim"
    EXPECT=diskcache_swift
fi
for v in "${venvs[@]}"; do
    got="$("$WORK/venv-$v/bin/python" -c 'import diskcache, diskcache.core; print(diskcache.__name__, diskcache.core.__name__)')"
    if [ "$got" != "$EXPECT $EXPECT.core" ]; then
        say "venv-$v: 'import diskcache' gives '$got', expected $EXPECT"
        exit 2
    fi
done
# litellm (dspy, aider) otherwise tries to download a price list at each import, and retries.
export LITELLM_LOCAL_MODEL_COST_MAP=True
say "setup took $((SECONDS - start)) s; diskcache is $EXPECT"

sdist() {  # sdist NAME VERSION -> prints the unpacked directory
    local dir="$WORK/src/$1-$2"
    if [ ! -d "$dir" ]; then
        "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps \
            --no-binary :all: "$1==$2" -d "$WORK/src/dl" >&2 || return 1
        local archive="$WORK/src/dl/$(echo "$1" | tr - _)-$2.tar.gz"
        [ -f "$archive" ] || archive="$WORK/src/dl/$1-$2.tar.gz"
        mkdir -p "$dir.part" && tar xzf "$archive" -C "$dir.part" --strip-components=1 &&
            mv "$dir.part" "$dir" || { rm -rf "$dir.part"; return 1; }
    fi
    echo "$dir"
}

VENV=  # the current application's venv, set by the loop below
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

dspy_tests() {  # prints a directory holding dspy's tests/ for DSPY_VERSION, if one can be had
    local tests="$WORK/src/dspy-tests-$DSPY_VERSION"
    if [ ! -d "$tests/tests" ]; then
        rm -rf "$tests" && mkdir -p "$tests"
        if [ -n "${DSPY_SRC:-}" ]; then
            cp -r "$DSPY_SRC/tests" "$tests/tests"
        elif [ -n "${DSPY_GIT:-}" ]; then
            local rev=$DSPY_VERSION
            if ! git --git-dir="$DSPY_GIT" rev-parse -q --verify "$rev^{commit}" >/dev/null; then
                rev=HEAD  # a snapshot without tags: accept it only if it is that release
                git --git-dir="$DSPY_GIT" log -1 --format=%s HEAD | grep -q "versions for $DSPY_VERSION\b" || {
                    say "dspy: $DSPY_GIT has no tag $DSPY_VERSION and its HEAD is not that release"
                    rm -rf "$tests"; return 1
                }
            fi
            git --git-dir="$DSPY_GIT" archive "$rev" tests | tar x -C "$tests"
        else
            curl -fsSL --max-time 120 \
                "https://github.com/stanfordnlp/dspy/archive/refs/tags/$DSPY_VERSION.tar.gz" \
                | tar xz -C "$tests" --strip-components=1 --wildcards '*/tests/*' 2>/dev/null
        fi
        [ -d "$tests/tests/clients" ] || { rm -rf "$tests"; return 1; }
    fi
    echo "$tests"
}

app_dspy() {
    "$VENV/bin/python" "$ROOT/scripts/apps/check_dspy.py" "$EXPECT" || return 1
    local tests
    if ! tests="$(dspy_tests)"; then
        echo "NOT RUN  dspy's upstream tests/clients: no DSPY_SRC or DSPY_GIT, and GitHub unreachable"
        return 0
    fi
    # test_corrupt_disk_entries_return_none corrupts an entry by opening the shards' SQLite
    # files (cache.db) itself: it tests python-diskcache's file format, which diskcache_swift
    # does not have (on diskcache_swift it finds no cache.db and corrupts nothing).
    local deselect=()
    if [ "$EXPECT" = diskcache_swift ]; then
        say "dspy: deselecting test_corrupt_disk_entries_return_none (it edits python-diskcache's SQLite files)"
        deselect=(--deselect tests/clients/test_cache.py::test_corrupt_disk_entries_return_none)
    fi
    run_pytest "$tests" tests/clients/test_cache.py tests/clients/test_disk_serialization.py "${deselect[@]}"
}

app_aider_chat() {
    local dir
    dir="$(sdist aider-chat "$AIDER_VERSION")" || return 1
    run_pytest "$dir" tests/basic/test_repomap.py || return 1
    "$VENV/bin/python" "$ROOT/scripts/apps/check_aider.py" "$EXPECT"
}

app_dvc_data() {
    local dir
    dir="$(sdist dvc-data "$DVC_DATA_VERSION")" || return 1
    run_pytest "$dir" tests/hashfile tests/index
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

# -- the applications, APPS_JOBS at a time (default 2), each into a log printed when it ends
JOBS="${APPS_JOBS:-2}"
run_app() {  # run_app APP: its result line goes to $WORK/result-APP
    local app=$1 t0=$SECONDS
    VENV="$WORK/venv-$(venv_of "$app")"
    if "app_${app//-/_}"; then
        echo "PASS  $app ($((SECONDS - t0)) s)" >"$WORK/result-$app"
    else
        echo "FAIL  $app ($((SECONDS - t0)) s)" >"$WORK/result-$app"
    fi
}
declare -A running=()  # pid -> application
finish_one() {  # waits for any running application and prints its log
    local done_pid
    wait -n -p done_pid "${!running[@]}"
    echo "== ${running[$done_pid]}"
    cat "$WORK/log-${running[$done_pid]}"
    unset "running[$done_pid]"
}
for app in $ONLY; do
    rm -f "$WORK/result-$app"
    run_app "$app" >"$WORK/log-$app" 2>&1 &
    running[$!]=$app
    [ ${#running[@]} -lt "$JOBS" ] || finish_one
done
while [ ${#running[@]} -gt 0 ]; do finish_one; done

failed=0
echo
echo "== applications on $EXPECT (total $((SECONDS - start)) s)"
for app in $ONLY; do
    line=$(cat "$WORK/result-$app" 2>/dev/null || echo "FAIL  $app (no result)")
    echo "$line"
    [[ $line == PASS* ]] || failed=1
    grep -h '^NOT RUN' "$WORK/log-$app" || true
done
exit $failed
