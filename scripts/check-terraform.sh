#!/usr/bin/env bash
# Checks keyrotor's Terraform without Terraform (the AWS provider cannot be downloaded offline):
#   1. Go tests over the parsed HCL (internal/harness/infracheck): terraform fmt form via hclwrite,
#      no secret in state or outputs, one role per Lambda, the ASL deployed, templatefile vars;
#      tflint's terraform ruleset (preset all) and tfsec's checks for keyrotor's resource types,
#      re-implemented in Go (style.go, security.go; HIGH and CRITICAL fail, as tfsec did here);
#      the policy templates themselves (internal/deployed); and least privilege: every call
#      each function makes allowed, every statement needed, out-of-scope calls denied, evaluated
#      by @cloud-copilot/iam-simulate (internal/harness/leastprivilege).
#   2. The hashicorp/aws 6.25.0 schema (from @cdktf/provider-aws, internal/harness/tfschema):
#      every resource and data source type, argument and block exists and is used as the schema
#      says, required ones are set, literals have the schema's type; and what `terraform
#      validate` adds: references resolve, module calls pass exactly the callee's variables.
# `check-terraform.sh linters` runs tflint and tfsec themselves instead (`make lint-terraform`,
# after `scripts/install-tools.sh terraform-linters` builds them): their full rule sets, for
# anyone who wants more than the rules infracheck holds (bench/setup-notes.md lists those).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = linters ]; then
  for tool in bin/tflint bin/tfsec; do
    [ -x "$tool" ] || { echo "check-terraform: $tool is missing; run: scripts/install-tools.sh terraform-linters" >&2; exit 1; }
  done
  echo "check-terraform: tflint"
  bin/tflint --chdir=infra --recursive --config="$PWD/infra/.tflint.hcl" --format=compact

  echo "check-terraform: tfsec (failing on HIGH and CRITICAL)"
  out=$(mktemp)
  trap 'rm -f "$out"' EXIT
  bin/tfsec infra --no-color --no-module-downloads --format json --soft-fail >"$out" 2>/dev/null
  python3 - "$out" <<'PY'
import json, sys
results = json.load(open(sys.argv[1])).get("results") or []
counts = {}
blocking = []
for r in results:
    sev = r["severity"]
    counts[sev] = counts.get(sev, 0) + 1
    if sev in ("HIGH", "CRITICAL"):
        loc = r["location"]
        blocking.append(f'  {sev} {r["long_id"]}: {r["description"]} ({loc["filename"]}:{loc["start_line"]})')
summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
print(f"tfsec: findings: {summary}")
if blocking:
    print("tfsec: HIGH/CRITICAL findings must be fixed (or ignored with #tfsec:ignore:<id> under a comment giving the reason):")
    print("\n".join(blocking))
    sys.exit(1)
PY
  echo "check-terraform: linters ok"
  exit 0
fi

lint_test='^TestTheTreePassesTheRulesOfTflintAndTfsec$'
echo "check-terraform: go test ./internal/harness/infracheck ./internal/harness/tfschema ./internal/deployed ./internal/leastprivilege"
go test -count=1 -skip "$lint_test" ./internal/harness/infracheck/ ./internal/harness/tfschema/ ./internal/deployed/ ./internal/harness/leastprivilege/

# Prints `infracheck lint: N modules, ... findings: 0 HIGH/CRITICAL, M MEDIUM, L LOW (reported), 0 style`.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
go test -count=1 -v -run "$lint_test" ./internal/harness/infracheck/ >"$log" 2>&1 || { grep -v '^=== RUN' "$log"; exit 1; }
grep '^infracheck lint:' "$log"

# Prints `terraform schema (hashicorp/aws 6.25.0): N resources, M arguments checked, 0 problems`.
go run ./internal/harness/tfschema/cmd/check-tf-schema

# Terraform itself runs offline for fmt (validate needs the provider, which cannot be
# downloaded here: the schema check above stands in for it).
if command -v terraform >/dev/null 2>&1; then
  echo "check-terraform: terraform fmt -check"
  terraform fmt -check -recursive infra 2>/dev/null ||
    { echo "check-terraform: run terraform fmt -recursive infra" >&2; exit 1; }
fi
echo "check-terraform: ok"
