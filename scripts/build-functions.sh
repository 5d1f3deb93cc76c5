#!/usr/bin/env bash
# Builds one Lambda `bootstrap` per functions/<name> for provided.al2023:
#   build/arm64/<name>/bootstrap + build/<name>.zip   (what Terraform deploys)
#   build/host/<name>/bootstrap                       (what the local Lambda host runs)
# `build-functions.sh host` builds only the host bootstraps (what `make demo` runs).
# A bootstrap whose bytes did not change keeps its file and mtime: `go build -o` touches an
# up-to-date output, and Go's test cache keys the tests that ran a bootstrap on its mtime
# (localaws/lambdahost stats it at each cold start), so a touch alone would re-run them.
set -euo pipefail
target=${1:-all}
cd "$(dirname "$0")/.."
flags=(-tags lambda.norpc -trimpath -ldflags "-s -w")
build() { # output package [env...]: go build; changed=1 unless an identical earlier output was kept
  local out=$1 pkg=$2; shift 2
  if [ -f "$out" ]; then cp -p "$out" "$out.prev"; fi
  env CGO_ENABLED=0 "$@" go build "${flags[@]}" -o "$out" "$pkg" || { rm -f "$out.prev"; exit 1; }
  changed=1
  if [ -f "$out.prev" ] && cmp -s "$out" "$out.prev"; then mv -f "$out.prev" "$out"; changed=0; fi
  rm -f "$out.prev"
}
for dir in functions/*/; do
  name=$(basename "$dir")
  [ -f "$dir/main.go" ] || continue
  build "build/host/$name/bootstrap" "./$dir"
  [ "$target" = host ] && continue
  build "build/arm64/$name/bootstrap" "./$dir" GOOS=linux GOARCH=arm64
  if [ "$changed" = 1 ] || [ ! -f "build/$name.zip" ]; then
    rm -f "build/$name.zip"
    (cd "build/arm64/$name" && python3 -m zipfile -c "../../$name.zip" bootstrap)
  fi
done
