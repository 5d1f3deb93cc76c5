#!/usr/bin/env bash
# Lints every state machine definition with asl-validator. Definitions carry Terraform-style
# ${...} placeholders for Lambda ARNs; they are filled with a syntactically valid ARN first,
# exactly as the deployers fill them.
set -euo pipefail
cd "$(dirname "$0")/.."
validator=scripts/npm/node_modules/.bin/asl-validator
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
n=0
while IFS= read -r -d '' f; do
  out="$tmp/$(basename "$f")"
  sed -E 's/\$\{[a-z_]+\}/arn:aws:lambda:us-east-1:123456789012:function:placeholder/g' "$f" > "$out"
  node "$validator" --json-definition "$(cat "$out")"
  n=$((n+1))
done < <(find statemachine internal -name '*.asl.json' -print0 2>/dev/null)
echo "asl-validator: $n definitions valid"
