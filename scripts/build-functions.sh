#!/usr/bin/env bash
# Builds one Lambda `bootstrap` per functions/<name> for provided.al2023:
#   build/arm64/<name>/bootstrap + build/<name>.zip   (what Terraform deploys)
#   build/host/<name>/bootstrap                       (what the local Lambda host runs)
# `build-functions.sh host` builds only the host bootstraps (what `make demo` and `make test` run).
# One `go build` per architecture builds every function into build/.link/<arch>/: go checks
# their staleness together (six warm go builds cost about 4 CPU-s, a warm `make demo`'s largest
# build step) and relinks only a stale one. A bootstrap whose bytes did not change keeps its file
# and mtime: Go's test cache keys the tests that ran a bootstrap on its mtime (localaws/lambdahost
# stats it at each cold start), so a touch alone would re-run them.
set -euo pipefail
target=${1:-all}
cd "$(dirname "$0")/.."
# -buildvcs=false: a bootstrap carries no commit, so a new commit that leaves a function's code
# unchanged leaves its bytes, and the tests Go cached for it, unchanged.
flags=(-tags lambda.norpc -trimpath -buildvcs=false -ldflags "-s -w")
build() { # arch dir [env...]: every function's bootstrap into build/<dir>/<name>/bootstrap
  local arch=$1 dir=$2 link=build/.link/$1; shift 2
  mkdir -p "$link"
  env CGO_ENABLED=0 "$@" go build "${flags[@]}" -o "$link/" ./functions/...
  for bin in "$link"/*; do
    name=$(basename "$bin") out=build/$dir/$name/bootstrap
    if cmp -s "$bin" "$out"; then continue; fi
    # A copy renamed into place: a bootstrap that a running Lambda host executes cannot be
    # written over (ETXTBSY), but it can be replaced.
    mkdir -p "build/$dir/$name"; cp "$bin" "$out.new"; mv -f "$out.new" "$out"
    if [ "$dir" = arm64 ]; then rm -f "build/$name.zip"; fi
  done
}
build host host
[ "$target" = host ] && exit 0
build arm64 arm64 GOOS=linux GOARCH=arm64
for dir in build/arm64/*/; do
  name=$(basename "$dir")
  [ -f "build/$name.zip" ] || (cd "$dir" && python3 -m zipfile -c "../../$name.zip" bootstrap)
done
