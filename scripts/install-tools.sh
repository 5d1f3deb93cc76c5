#!/usr/bin/env bash
# Installs every tool keyrotor's checks need, pinned, into the repo (bin/, scripts/npm/node_modules).
# `demo` installs only what `make demo` runs (moto). `terraform-linters` builds only tflint and
# tfsec, which `make lint-terraform` runs and `make test` does not: infracheck applies their rules
# in Go (bench/setup-notes.md), and building them from source costs minutes on a fresh machine.
# Idempotent: a second run with everything present costs a few milliseconds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
set_=${1:-all}
case $set_ in
all | demo | terraform-linters) ;;
*) echo "install-tools: unknown set '$set_': use demo, terraform-linters, or no argument for what make test needs" >&2; exit 2 ;;
esac

need() { command -v "$1" >/dev/null 2>&1 || { echo "install-tools: '$1' is required: $2" >&2; exit 1; }; }
need go "install Go 1.26 from https://go.dev/dl/"

# Go tools, pinned, into ./bin.
export GOBIN="$root/bin"
mkdir -p "$GOBIN"
gotool() { # name module@version
  local name=$1 mod=$2 stampf="$GOBIN/.$1.version"
  if [ ! -x "$GOBIN/$name" ] || [ "$(cat "$stampf" 2>/dev/null)" != "$mod" ]; then
    echo "install-tools: go install $mod" >&2
    go install "$mod"
    echo "$mod" > "$stampf"
  fi
}
if [ "$set_" = terraform-linters ]; then
  gotool tflint github.com/terraform-linters/tflint@v0.61.0
  gotool tfsec github.com/aquasecurity/tfsec/cmd/tfsec@v1.28.14
  exit 0
fi

need npm "install Node.js 20+ and npm (Debian: apt-get install nodejs npm)"
need python3 "install python3 (Debian: apt-get install python3)"
if ! command -v moto_server >/dev/null 2>&1; then
  echo "install-tools: moto_server not found; installing moto[server]==5.2.1 with pip" >&2
  python3 -m pip install --quiet 'moto[server]==5.2.1' 'awscli' || {
    echo "install-tools: could not install moto; run: pip install 'moto[server]==5.2.1' awscli" >&2; exit 1; }
fi

# `install-tools.sh demo` stops here: the demo needs moto and Go only, not the linters or npm tools.
[ "$set_" = demo ] && exit 0

# npm tools: the lockfile pins the whole tree; reinstall only when it changed.
stamp=scripts/npm/node_modules/.keyrotor-stamp
if [ ! -f "$stamp" ] || ! cmp -s scripts/npm/package-lock.json "$stamp"; then
  (cd scripts/npm && npm ci --no-audit --no-fund --loglevel=error)
  cp scripts/npm/package-lock.json "$stamp"
fi

# consumers/node's dependencies (the AWS SDK for JavaScript v3), pinned by its lockfile, for the
# consumer tests (internal/harness/consumer); consumers/python needs only the boto3 moto brings.
stamp=consumers/node/node_modules/.keyrotor-stamp
if [ ! -f "$stamp" ] || ! cmp -s consumers/node/package-lock.json "$stamp"; then
  (cd consumers/node && npm ci --no-audit --no-fund --loglevel=error)
  cp consumers/node/package-lock.json "$stamp"
fi
