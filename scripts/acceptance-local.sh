#!/usr/bin/env bash
# make acceptance-local: the checks `make aws-acceptance` runs after its deploy
# (scripts/acceptance-checks.sh), run against the local engine with the AWS CLI as the client.
# Needs the host bootstraps (make build); builds the example's consumer for the host.
set -euo pipefail
cd "$(dirname "$0")/.."
CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -o build/host/s3-signer-consumer/bootstrap ./infra/examples/s3-signer/consumer
go run ./internal/harness/acceptance/cmd/acceptance-local
