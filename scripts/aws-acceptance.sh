#!/usr/bin/env bash
# make aws-acceptance: deploy infra/examples/s3-signer into the AWS account of the current
# credentials, rotate the signer's key the way a console user does, check that the consumer
# signs with the new key, look for the secret everywhere it must not be, and destroy it all.
#
#   scripts/aws-acceptance.sh            region: AWS_REGION, else eu-west-1
#
# Without terraform or without AWS credentials it says so and exits 0. It creates (and
# removes) an S3 bucket keyrotor-acc-<account>-<random>, an IAM user of the same name and
# everything the example deploys, with the engine named kr-acc-<random>; it costs cents (the
# engine's two KMS keys are scheduled for deletion, as destroy does). The example's consumer
# is named keyrotor-s3-signer-consumer: the account must not already hold one. Nothing it reads is printed: each secret is
# held in a shell variable only to be searched for, with grep -F, in files of a private
# temporary directory that is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

TERRAFORM=${TERRAFORM:-terraform}
AWS=${AWS:-aws}
if ! command -v "$TERRAFORM" >/dev/null 2>&1; then
  echo "aws-acceptance: skipped: terraform is not installed (https://developer.hashicorp.com/terraform/install)"
  exit 0
fi
if ! command -v "$AWS" >/dev/null 2>&1; then
  echo "aws-acceptance: skipped: the AWS CLI is not installed"
  exit 0
fi
if ! account=$("$AWS" sts get-caller-identity --query Account --output text 2>/dev/null); then
  echo "aws-acceptance: skipped: no AWS credentials (aws sts get-caller-identity failed); configure a profile or AWS_ACCESS_KEY_ID to run it"
  exit 0
fi

region=${AWS_REGION:-${AWS_DEFAULT_REGION:-eu-west-1}}
export AWS_REGION=$region AWS_DEFAULT_REGION=$region
run_id=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
name="keyrotor-acc-${account}-${run_id}"
engine="kr-acc-${run_id}" # the engine's resource prefix, so that a keyrotor already deployed is untouched
example=infra/examples/s3-signer
work=$(mktemp -d)
chmod 700 "$work"
export TF_DATA_DIR="$PWD/build/aws-acceptance/$run_id/.terraform"
state="$PWD/build/aws-acceptance/$run_id/terraform.tfstate"
mkdir -p "$(dirname "$state")"
tf() { "$TERRAFORM" -chdir="$example" "$@"; }
# Short waits so that the run takes minutes: the consumer re-reads the key every 5 s and signs
# URLs for at most 60 s, so a grace of 65 s satisfies the example's precondition.
tfvars=(-var "bucket_name=$name" -var "signer_user_name=$name" -var "region=$region" -var "engine_name=$engine"
  -var "consumer_zip=$PWD/build/s3-signer-consumer.zip"
  -var signer_cache_ttl_seconds=5 -var url_max_expires_seconds=60 -var grace_seconds=65 -var inactive_seconds=0)
old_secret="" new_secret=""

cleanup() {
  status=$?
  set +e
  echo "aws-acceptance: destroying"
  tf destroy -auto-approve -input=false -state="$state" "${tfvars[@]}" >"$work/destroy.log" 2>&1 ||
    { echo "aws-acceptance: terraform destroy failed; state kept in $state:"; tail -20 "$work/destroy.log"; status=1; }
  "$AWS" s3 rm "s3://$name" --recursive >/dev/null 2>&1
  "$AWS" s3api delete-bucket --bucket "$name" >/dev/null 2>&1
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

fail() {
  echo "aws-acceptance: FAILED: $*" >&2
  exit 1
}

# wait_until <seconds> <what> <command...>: run the command every 5 s until it succeeds.
wait_until() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out after ${deadline}s waiting for $what"
    sleep 5
  done
}

echo "aws-acceptance: account $account, region $region, run $name"
echo "aws-acceptance: building the functions and the example's consumer"
scripts/build-functions.sh >/dev/null
mkdir -p build/s3-signer-consumer
CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -o build/s3-signer-consumer/bootstrap ./infra/examples/s3-signer/consumer
(cd build/s3-signer-consumer && python3 -m zipfile -c ../s3-signer-consumer.zip bootstrap)

if [ "$region" = us-east-1 ]; then
  "$AWS" s3api create-bucket --bucket "$name" >/dev/null
else
  "$AWS" s3api create-bucket --bucket "$name" --create-bucket-configuration "LocationConstraint=$region" >/dev/null
fi
echo "keyrotor acceptance object" >"$work/object.txt"
"$AWS" s3api put-object --bucket "$name" --key acceptance.txt --body "$work/object.txt" >/dev/null

echo "aws-acceptance: terraform apply (the apply-time rotation runs inside it)"
tf init -input=false >"$work/init.log" 2>&1 || { tail -20 "$work/init.log"; fail "terraform init"; }
tf apply -auto-approve -input=false -state="$state" "${tfvars[@]}" >"$work/apply.log" 2>&1 ||
  { tail -30 "$work/apply.log"; fail "terraform apply"; }
tf output -state="$state" -json >"$work/outputs.json"
state_machine=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state_machine_arn"]["value"])' "$work/outputs.json")
consumer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["consumer_function_name"]["value"])' "$work/outputs.json")
parameter=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["parameter_name"]["value"])' "$work/outputs.json")
first_key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["signer_access_key_id"]["value"])' "$work/outputs.json")
old_secret=$("$AWS" ssm get-parameter --name "$parameter" --with-decryption --query Parameter.Value --output text |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["SecretAccessKey"])')

# The apply-time execution retires the old key after its grace; a second rotation started
# before it ends would be refused (RotationInProgress).
running() { [ "$("$AWS" stepfunctions list-executions --state-machine-arn "$state_machine" --status-filter RUNNING --query 'length(executions)' --output text)" = 0 ]; }
wait_until 600 "the apply-time rotation to finish" running

echo "aws-acceptance: starting a rotation with StartExecution, input {\"userName\": \"$name\", ...}"
input=$(printf '{"userName": "%s", "graceSeconds": 65, "inactiveSeconds": 0}' "$name")
execution=$("$AWS" stepfunctions start-execution --state-machine-arn "$state_machine" --input "$input" --query executionArn --output text)
ended() { [ "$("$AWS" stepfunctions describe-execution --execution-arn "$execution" --query status --output text)" != RUNNING ]; }
wait_until 900 "the rotation $execution" ended
status=$("$AWS" stepfunctions describe-execution --execution-arn "$execution" --query status --output text)
[ "$status" = SUCCEEDED ] || fail "rotation $execution ended $status (see its history in the Step Functions console)"

keys=$("$AWS" iam list-access-keys --user-name "$name" --query 'AccessKeyMetadata[?Status==`Active`].AccessKeyId' --output text)
[ "$(wc -w <<<"$keys")" = 1 ] || fail "user $name has active keys [$keys], want exactly one after the rotation"
new_key=$keys
[ "$new_key" != "$first_key" ] || fail "the rotation left the key $first_key in place"
new_secret=$("$AWS" ssm get-parameter --name "$parameter" --with-decryption --query Parameter.Value --output text |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["SecretAccessKey"])')

echo "aws-acceptance: the consumer must sign with $new_key and its URL must fetch the object"
signs_new() {
  "$AWS" lambda invoke --function-name "$consumer" --cli-binary-format raw-in-base64-out \
    --payload "{\"bucket\":\"$name\",\"key\":\"acceptance.txt\",\"expiresSeconds\":60}" "$work/presign.json" >/dev/null &&
    [ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("accessKeyId",""))' "$work/presign.json")" = "$new_key" ]
}
wait_until 120 "the consumer to sign with $new_key" signs_new
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$work/presign.json")
fetched_ok() { curl -fsS "$url" -o "$work/fetched.txt" && cmp -s "$work/fetched.txt" "$work/object.txt"; }
# IAM propagation: S3 may refuse a new key for a few seconds.
wait_until 60 "the presigned URL to fetch the object" fetched_ok

echo "aws-acceptance: searching state, outputs, histories and logs for the secrets"
tf show -json "$state" >"$work/show.json"
cp "$state" "$work/state.json"
for arn in $("$AWS" stepfunctions list-executions --state-machine-arn "$state_machine" --query 'executions[].executionArn' --output text); do
  "$AWS" stepfunctions get-execution-history --execution-arn "$arn" --include-execution-data --output json >"$work/history-${arn##*:}.json"
done
for group in $("$AWS" logs describe-log-groups --log-group-name-prefix "/aws/lambda/$engine-" --query 'logGroups[].logGroupName' --output text) \
  "/aws/lambda/keyrotor-s3-signer-consumer" "/aws/vendedlogs/states/$engine-rotate"; do
  "$AWS" logs filter-log-events --log-group-name "$group" --output json >"$work/logs-$(tr / _ <<<"$group").json" 2>/dev/null || true
done
documents=$(find "$work" -name '*.json' ! -name presign.json | wc -l)
for secret in "$old_secret" "$new_secret"; do
  [ -n "$secret" ] || fail "a secret could not be read from $parameter"
  if found=$(grep -lF -- "$secret" "$work"/*.json | grep -v presign.json); then
    fail "a secret access key appears in: $(xargs -n1 basename <<<"$found" | tr '\n' ' ')"
  fi
done
echo "aws-acceptance: no secret in $documents documents (state, terraform show, outputs, execution histories, logs)"
echo "aws-acceptance: passed"
