#!/usr/bin/env bash
# The acceptance checks that follow a deploy, shared by `make aws-acceptance` (a real AWS
# account, after terraform apply) and `make acceptance-local` (the local engine), so that the
# part both run is tested on every `make test`:
#   1. wait for any running rotation (the apply-time one) to end;
#   2. start a rotation the console way: StartExecution with typed JSON;
#   3. the user then has exactly one active key, a new one, and its parameter holds it;
#   4. the consumer Lambda signs with the new key and its presigned URL fetches the object;
#   5. the secrets (before and after) appear in no collected document: the deploy's own
#      (Terraform state, `terraform show -json`, outputs), every execution's history, and the logs.
#
# Inputs, from the environment:
#   ACC_WORK        a private directory holding outputs.json (state_machine_arn,
#                   consumer_function_name, parameter_name, signer_access_key_id) and any
#                   documents the deploy adds to the scan; histories and logs are written here
#   ACC_USER        the signer's IAM user          ACC_BUCKET, ACC_OBJECT_FILE  the object to fetch
#   ACC_GRACE       the console rotation's graceSeconds
#   ACC_INACTIVE    its inactiveSeconds (default 0; at least the engine's min_inactive_seconds)
#   ACC_EXPIRES     the presigned URL's expiresSeconds
#   ACC_FETCH_URL   0: check the URL's signing key only, do not fetch it (moto answers a
#                   presigned URL with a 500 when its request authentication is on)
#   ACC_LOG_GROUPS  CloudWatch Logs groups to fetch (space-separated); empty when the caller
#                   writes the logs into ACC_WORK itself (the local engine)
#   AWS             the AWS CLI (default: aws); its endpoints come from the environment
# Nothing it reads is printed: each secret is held in a shell variable only to be searched for,
# with grep -F, in the files of ACC_WORK.
set -euo pipefail
AWS=${AWS:-aws}
work=${ACC_WORK:?ACC_WORK must name a private directory for the run}

fail() {
  echo "acceptance: FAILED: $*" >&2
  exit 1
}

# wait_until <seconds> <what> <command...>: run the command every second until it succeeds.
wait_until() {
  local limit=$1 what=$2
  local deadline=$((SECONDS + limit))
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out after $limit s waiting for $what"
    sleep 1
  done
}

output() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["value"])' "$work/outputs.json" "$1"; }
state_machine=$(output state_machine_arn)
consumer=$(output consumer_function_name)
parameter=$(output parameter_name)
first_key=$(output signer_access_key_id)
secret_of() {
  "$AWS" ssm get-parameter --name "$parameter" --with-decryption --query Parameter.Value --output text |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["SecretAccessKey"])'
}
old_secret=$(secret_of)

# The apply-time execution retires the old key after its grace; a second rotation started
# before it ends would be refused (RotationInProgress).
none_running() { [ "$("$AWS" stepfunctions list-executions --state-machine-arn "$state_machine" --status-filter RUNNING --query 'length(executions)' --output text)" = 0 ]; }
wait_until 600 "the apply-time rotation to finish" none_running

input=$(printf '{"userName": "%s", "graceSeconds": %d, "inactiveSeconds": %d}' "$ACC_USER" "$ACC_GRACE" "${ACC_INACTIVE:-0}")
echo "acceptance: starting a rotation with StartExecution, input $input"
execution=$("$AWS" stepfunctions start-execution --state-machine-arn "$state_machine" --input "$input" --query executionArn --output text)
ended() { [ "$("$AWS" stepfunctions describe-execution --execution-arn "$execution" --query status --output text)" != RUNNING ]; }
wait_until 900 "the rotation $execution" ended
status=$("$AWS" stepfunctions describe-execution --execution-arn "$execution" --query status --output text)
[ "$status" = SUCCEEDED ] || fail "rotation $execution ended $status: $("$AWS" stepfunctions describe-execution --execution-arn "$execution" --query '[error, cause]' --output text)"
# The waits ran on the engine's clock (AWS's, or the local engine's simulated one): the
# execution's own start and stop dates span at least grace + inactive.
span=$("$AWS" stepfunctions describe-execution --execution-arn "$execution" --query '[startDate, stopDate]' --output json |
  python3 -c '
import json, sys
from datetime import datetime
# AWS CLI v2 prints ISO 8601; v1 may print the wire value, epoch seconds.
t = lambda v: float(v) if isinstance(v, (int, float)) else datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
a, b = json.load(sys.stdin)
print(int(t(b) - t(a)))')
waits=$((ACC_GRACE + ${ACC_INACTIVE:-0}))
[ "$span" -ge "$waits" ] || fail "rotation $execution spanned $span s of the engine's clock, less than its waits ($waits s)"
echo "acceptance: the rotation spanned $span s of the engine's clock (waits: grace $ACC_GRACE s + inactive ${ACC_INACTIVE:-0} s)"

keys=$("$AWS" iam list-access-keys --user-name "$ACC_USER" --query 'AccessKeyMetadata[?Status==`Active`].AccessKeyId' --output text)
[ "$(wc -w <<<"$keys")" = 1 ] || fail "user $ACC_USER has active keys [$keys], want exactly one after the rotation"
new_key=$keys
[ "$new_key" != "$first_key" ] || fail "the rotation left the key $first_key in place"
new_secret=$(secret_of)
held=$("$AWS" ssm get-parameter --name "$parameter" --with-decryption --query Parameter.Value --output text |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["AccessKeyId"])')
[ "$held" = "$new_key" ] || fail "$parameter holds $held, not the user's active key $new_key"

echo "acceptance: the consumer must sign with $new_key and its URL must fetch the object"
# AWS CLI v2 reads --payload as base64 unless told otherwise; v1 takes it as it is.
binary_format=()
case "$("$AWS" --version 2>&1)" in aws-cli/2*) binary_format=(--cli-binary-format raw-in-base64-out) ;; esac
signs_new() {
  "$AWS" lambda invoke --function-name "$consumer" "${binary_format[@]}" \
    --payload "{\"bucket\":\"$ACC_BUCKET\",\"key\":\"acceptance.txt\",\"expiresSeconds\":$ACC_EXPIRES}" "$work/presign.json" >/dev/null &&
    [ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("accessKeyId",""))' "$work/presign.json")" = "$new_key" ]
}
wait_until 120 "the consumer to sign with $new_key" signs_new
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$work/presign.json")
case "$url" in *"X-Amz-Credential=$new_key%2F"*) ;; *) fail "the presigned URL is not signed with $new_key" ;; esac
if [ "${ACC_FETCH_URL:-1}" = 1 ]; then
  fetched_ok() { curl -fsS "$url" -o "$work/fetched.txt" 2>/dev/null && cmp -s "$work/fetched.txt" "$ACC_OBJECT_FILE"; }
  # IAM propagation: S3 may refuse a new key for a few seconds.
  wait_until 60 "the presigned URL to fetch the object" fetched_ok
  rm -f "$work/fetched.txt"
fi

echo "acceptance: searching the deploy's documents, histories and logs for the secrets"
for arn in $("$AWS" stepfunctions list-executions --state-machine-arn "$state_machine" --query 'executions[].executionArn' --output text); do
  "$AWS" stepfunctions get-execution-history --execution-arn "$arn" --include-execution-data --output json >"$work/history-${arn##*:}.json"
done
for group in ${ACC_LOG_GROUPS:-}; do
  "$AWS" logs filter-log-events --log-group-name "$group" --output json >"$work/logs-$(tr / _ <<<"$group").json" 2>/dev/null || true
done
histories=$(find "$work" -name 'history-*.json' | wc -l)
[ "$histories" -ge 1 ] || fail "no execution history was collected"
documents=$(find "$work" -type f ! -name presign.json | wc -l)
for secret in "$old_secret" "$new_secret"; do
  [ -n "$secret" ] || fail "a secret could not be read from $parameter"
  if found=$(grep -rlF -- "$secret" "$work" | grep -v presign.json); then
    fail "a secret access key appears in: $(xargs -n1 basename <<<"$found" | tr '\n' ' ')"
  fi
done
echo "acceptance: no secret in $documents documents ($histories execution histories, logs, the deploy's own)"
echo "acceptance: passed"
