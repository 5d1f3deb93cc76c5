#!/usr/bin/env bash
# make aws-acceptance: deploy infra/examples/s3-signer into the AWS account of the current
# credentials, rotate the signer's key the way a console user does, check that the consumer
# signs with the new key, look for the secret everywhere it must not be, and destroy it all.
# Everything after the deploy is scripts/acceptance-checks.sh, which `make acceptance-local`
# runs against the local engine on every `make test`.
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
# URLs for at most 60 s, so a grace of 65 s satisfies the example's precondition. The engine's
# floors (defaults 1800 and 3600 s) would refuse them, so this throwaway engine lowers its
# floors to exactly these waits (internal/harness/infracheck: acceptance_test.go holds the
# inputs against the floors).
tfvars=(-var "bucket_name=$name" -var "signer_user_name=$name" -var "region=$region" -var "engine_name=$engine"
  -var "consumer_zip=$PWD/build/s3-signer-consumer.zip"
  -var signer_cache_ttl_seconds=5 -var url_max_expires_seconds=60 -var grace_seconds=65 -var inactive_seconds=0
  -var min_grace_seconds=65 -var min_inactive_seconds=0)

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
# The deploy's own documents join the scan: the state and what `terraform show` prints.
tf show -json "$state" >"$work/show.json"
cp "$state" "$work/state.json"

logs="/aws/lambda/keyrotor-s3-signer-consumer /aws/vendedlogs/states/$engine-rotate"
logs="$logs $("$AWS" logs describe-log-groups --log-group-name-prefix "/aws/lambda/$engine-" --query 'logGroups[].logGroupName' --output text)"
# The example's signer_cache_ttl_seconds=5 and url_max_expires_seconds=60 make grace 65 s enough.
ACC_WORK=$work ACC_USER=$name ACC_BUCKET=$name ACC_OBJECT_FILE="$work/object.txt" ACC_GRACE=65 ACC_EXPIRES=60 \
  ACC_LOG_GROUPS=$logs AWS=$AWS scripts/acceptance-checks.sh || fail "acceptance checks"
echo "aws-acceptance: passed"
