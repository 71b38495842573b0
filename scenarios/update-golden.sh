#!/bin/sh
# Regenerates scenarios/golden/*.txt (the --trace output of every scenario) after an intended
# change of behaviour. Usage: scenarios/update-golden.sh [path/to/tcpsim]   (default build/tools/tcpsim)
# Review the diff (git diff scenarios/golden) before committing: every changed line is a
# changed byte on a wire. Equivalent: TCPSIM_UPDATE_GOLDEN=1 ctest --test-dir build -R scenario_library
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tool=${1:-$here/../build/tools/tcpsim}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$here/golden"
for yaml in "$here"/*.yaml; do
    name=$(basename "$yaml" .yaml)
    mkdir "$tmp/$name"
    "$tool" run "$yaml" --quiet --trace "$tmp/$name/$name.txt" >/dev/null || true   # xfail scenarios exit 1
    for t in "$tmp/$name"/*.txt; do
        [ -f "$t" ] && cp "$t" "$here/golden/" && echo "updated golden/$(basename "$t")"
    done
done
