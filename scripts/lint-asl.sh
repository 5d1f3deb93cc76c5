#!/usr/bin/env bash
# Lints every state machine definition with asl-validator and with AWS's own ASL language service
# (amazon-states-language-service, via scripts/asl-language-service.cjs), then with keyrotor's
# rules (internal/harness/aslrules: Distributed-only fields on an INLINE Map, error names a
# resource never raises, MaxConcurrency above the mode's, the 25,000-event/256 KiB budget for a
# fleet of 5,000 users). Definitions carry Terraform-style ${...} placeholders; they are filled
# with syntactically valid ARNs first, as the deployers fill them.
set -euo pipefail
cd "$(dirname "$0")/.."
node=scripts/npm/node_modules/.bin/node
validator=scripts/npm/node_modules/.bin/asl-validator
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
n=0
filled=()
while IFS= read -r -d '' f; do
  out="$tmp/$n-$(basename "$f")"
  sed -E -e 's/\$\{[a-z_]+_state_machine_arn\}/arn:aws:states:us-east-1:123456789012:stateMachine:placeholder/g' \
         -e 's/\$\{[a-z_]+\}/arn:aws:lambda:us-east-1:123456789012:function:placeholder/g' "$f" > "$out"
  node "$validator" --json-definition "$(cat "$out")"
  filled+=("$out")
  n=$((n+1))
done < <(find statemachine internal -name '*.asl.json' -not -path '*/testdata/*' -print0 2>/dev/null)
echo "asl-validator: $n definitions valid"
"$node" scripts/asl-language-service.cjs "${filled[@]}"
echo "amazon-states-language-service 1.16.1: $n definitions, 0 problems"

# keyrotor's ASL rules (AWS's documented Map modes, error names, quotas; each rule cites its page):
# a problem fails the lint.
go run ./internal/harness/aslrules/cmd/aslrules statemachine/*.asl.json
