#!/usr/bin/env bash
# Builds the DocC documentation of the Swift modules offline, with the toolchain's own `docc`
# (no plugin dependency in Package.swift): symbol graphs from a debug build, then one
# documentation archive per module in .build/docs/<Module>.doccarchive.
#   bash scripts/docs.sh                 # build the archives
#   bash scripts/docs.sh --preview       # then serve DiskCache's at http://localhost:8080
set -euo pipefail
cd "$(dirname "$0")/.."
modules=(DiskCache DiskCacheKit)
graphs=.build/symbol-graphs
mkdir -p "$graphs"   # kept: an up-to-date build does not write them again
for m in "${modules[@]}"; do
    swift build --target "$m" -Xswiftc -emit-symbol-graph -Xswiftc -emit-symbol-graph-dir -Xswiftc "$PWD/$graphs"
done
docc=$(command -v docc || echo /opt/swift/usr/bin/docc)
for m in "${modules[@]}"; do
    # Only the module's own graphs: its dependencies' (SystemPackage) would be documented too.
    dir=.build/symbol-graphs-$m
    rm -rf "$dir" && mkdir -p "$dir"
    cp "$graphs/$m.symbols.json" "$dir/"
    cp "$graphs/$m"@*.symbols.json "$dir/" 2>/dev/null || true
    catalog=Sources/$m/$m.docc
    args=(--additional-symbol-graph-dir "$dir" --fallback-display-name "$m"
          --fallback-bundle-identifier "org.diskcache-swift.$m" --output-path ".build/docs/$m.doccarchive")
    [ -d "$catalog" ] || catalog=
    mkdir -p .build/docs
    if ! "$docc" convert $catalog "${args[@]}" > ".build/docs/$m.log" 2>&1; then
        cat ".build/docs/$m.log" >&2
        exit 1
    fi
    grep -E '^(warning|error)' ".build/docs/$m.log" | sort | uniq -c || true
    echo "$m: .build/docs/$m.doccarchive"
done
if [ "${1:-}" = "--preview" ]; then
    "$docc" preview Sources/DiskCache/DiskCache.docc --additional-symbol-graph-dir .build/symbol-graphs-DiskCache \
        --fallback-display-name DiskCache --fallback-bundle-identifier org.diskcache-swift.DiskCache
fi
