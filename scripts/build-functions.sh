#!/usr/bin/env bash
# Builds one Lambda `bootstrap` per functions/<name> for provided.al2023:
#   build/arm64/<name>/bootstrap + build/<name>.zip   (what Terraform deploys)
#   build/host/<name>/bootstrap                       (what the local Lambda host runs)
# `build-functions.sh host` builds only the host bootstraps (what `make demo` runs).
set -euo pipefail
target=${1:-all}
cd "$(dirname "$0")/.."
flags=(-tags lambda.norpc -trimpath -ldflags "-s -w")
for dir in functions/*/; do
  name=$(basename "$dir")
  [ -f "$dir/main.go" ] || continue
  CGO_ENABLED=0 go build "${flags[@]}" -o "build/host/$name/bootstrap" "./$dir"
  [ "$target" = host ] && continue
  CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build "${flags[@]}" -o "build/arm64/$name/bootstrap" "./$dir"
  rm -f "build/$name.zip"
  (cd "build/arm64/$name" && python3 -m zipfile -c "../../$name.zip" bootstrap)
done
