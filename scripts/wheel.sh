#!/usr/bin/env bash
# Builds the sdist and the binary wheels, repairs each wheel with auditwheel to a manylinux tag
# and smoke-tests it in a fresh venv with the Swift toolchain off PATH. Leaves them in wheelhouse/.
#
#   bash scripts/wheel.sh                 # the wheel for python3 on PATH
#   bash scripts/wheel.sh --all           # one wheel per supported CPython (3.10-3.13)
#   bash scripts/wheel.sh 3.12 3.13       # those versions
#
# Each version's interpreter is found under pyenv ($PYENV_ROOT/versions/3.X.*) or as python3.X
# on PATH. Each gets a build environment in .build-wheel/venv-3.X with requirements-wheel.txt,
# and its own SwiftPM scratch folder (.build-py3X, see setup.py), so a rerun rebuilds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SUPPORTED=(3.10 3.11 3.12 3.13)

versions=()
for arg in "$@"; do
    case $arg in
        --all) versions+=("${SUPPORTED[@]}") ;;
        3.*) versions+=("$arg") ;;
        *) echo "usage: $0 [--all | 3.X ...]" >&2; exit 2 ;;
    esac
done
if [ ${#versions[@]} = 0 ]; then
    versions=("$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')")
fi

find_python() {
    local candidate
    for candidate in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$1".* 2>/dev/null | sort -V -r); do
        if [ -x "$candidate/bin/python$1" ]; then echo "$candidate/bin/python$1"; return; fi
    done
    # A pyenv shim answers for every version but fails for the inactive ones: run it to know.
    if command -v "python$1" >/dev/null && "python$1" -c '' 2>/dev/null; then
        command -v "python$1"; return
    fi
    echo "wheel.sh: no Python $1 found (pyenv or python$1 on PATH)" >&2
    return 1
}

swift_bin=$(command -v swift || echo /opt/swift/usr/bin/swift)
# The toolchain's root (…/usr): nothing under it may be mapped by the installed wheel.
TOOLCHAIN=$(dirname "$(dirname "$(readlink -f "$swift_bin")")")

mkdir -p wheelhouse .build-wheel
rm -f wheelhouse/*.whl wheelhouse/*.tar.gz

# A build environment per version, reinstalled only when requirements-wheel.txt changes.
builder() {
    local version=$1 python venv=.build-wheel/venv-$1
    python=$(find_python "$version")
    if ! cmp -s requirements-wheel.txt "$venv/requirements-wheel.txt" 2>/dev/null; then
        rm -rf "$venv"
        "$python" -m venv "$venv" >&2
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-wheel.txt >&2
        cp requirements-wheel.txt "$venv/requirements-wheel.txt"
    fi
    echo "$ROOT/$venv"
}

summary=()
for version in "${versions[@]}"; do
    echo "== Python $version =="
    venv=$(builder "$version")
    python=$(find_python "$version")
    dist=.build-wheel/dist-$version
    rm -rf "$dist" build
    start=$SECONDS
    # From the source tree, not via the sdist: the sdist's temporary copy would start SwiftPM
    # from an empty scratch folder every time.
    "$venv/bin/python" -m build --wheel --outdir "$dist" . >".build-wheel/build-$version.log" 2>&1 \
        || { tail -40 ".build-wheel/build-$version.log" >&2; exit 1; }
    build_seconds=$((SECONDS - start))
    raw=$(ls "$dist"/*.whl)
    PATH="$venv/bin:$PATH" "$venv/bin/auditwheel" repair --wheel-dir wheelhouse "$raw" \
        >".build-wheel/repair-$version.log" 2>&1 \
        || { cat ".build-wheel/repair-$version.log" >&2; exit 1; }
    wheel=$(ls -t wheelhouse/diskcache_swift-*-cp${version/./}-*.whl | head -1)
    PATH="$venv/bin:$PATH" "$venv/bin/auditwheel" show "$wheel" | sed 's/^/  /'

    # Smoke test: a fresh venv, an environment with nothing but the venv and the system's bin
    # folders, run from an empty folder so the source tree cannot be imported by accident.
    smoke=$(mktemp -d)
    "$python" -m venv "$smoke/venv"
    run_clean() { (cd "$smoke" && env -i HOME="$smoke" PATH="$smoke/venv/bin:/usr/bin:/bin" "$@"); }
    if run_clean sh -c 'command -v swift' >/dev/null; then
        echo "wheel.sh: swift is still on the smoke test's PATH" >&2; exit 1
    fi
    run_clean python -m pip install --quiet --disable-pip-version-check --no-index "$ROOT/$wheel"
    run_clean python "$ROOT/scripts/wheel_smoke.py" "$TOOLCHAIN" /opt/swift
    # Import time: the best of 15 runs, as the machine may be busy.
    import_us=$(for _ in $(seq 15); do
        run_clean python -X importtime -c 'import diskcache_swift' 2>&1 >/dev/null \
            | awk -F'|' '$3 ~ /^ diskcache_swift$/ {gsub(/ /, "", $2); print $2}'
    done | sort -n | head -1)
    rm -rf "$smoke"

    size=$(stat -c %s "$wheel")
    summary+=("$(awk -v w="$(basename "$wheel")" -v s="$size" -v i="$import_us" -v b="$build_seconds" \
        'BEGIN { printf "%-58s %5.2f MB  import %4.1f ms  build %4d s", w, s / 1e6, i / 1e3, b }')")
done

# The sdist: built once (it has no per-version part), and checked to hold every file the Swift
# build needs, so that `pip install diskcache-swift` from source finds them.
"$(builder "${versions[0]}")/bin/python" -m build --sdist --outdir wheelhouse . >.build-wheel/sdist.log 2>&1 \
    || { tail -40 .build-wheel/sdist.log >&2; exit 1; }
sdist=$(ls wheelhouse/diskcache_swift-*.tar.gz)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    missing=$(comm -23 \
        <(git ls-files Package.swift Sources Tests python-ext python README.md pyproject.toml setup.py | sort) \
        <(tar -tzf "$sdist" | cut -d/ -f2- | sort))
    if [ -n "$missing" ]; then
        echo "wheel.sh: the sdist lacks:" >&2; echo "$missing" >&2; exit 1
    fi
else
    echo "wheel.sh: not a git checkout, so the sdist's contents were not checked" >&2
fi

echo "== wheelhouse =="
printf '%s\n' "${summary[@]}"
echo "$(basename "$sdist") $(stat -c %s "$sdist") bytes"
