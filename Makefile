# keyrotor: `make demo` runs a real rotation locally, `make test` runs every check.
SHELL := /bin/bash
export PATH := $(CURDIR)/bin:$(PATH)
GOTEST_TIMEOUT ?= 18m

# One build configuration for every go command make runs (tests, vet, go run, the CLI, the host
# bootstraps and the tests' own `go build`s): the bootstraps' CGO_ENABLED=0 -trimpath
# -tags=lambda.norpc. With the default flags for the tests and vet, a fresh clone compiled the
# AWS SDK's tree once more for them (bench/BENCHMARKS.md §6). Nothing here needs cgo or -race.
export CGO_ENABLED := 0
export GOFLAGS += -trimpath -tags=lambda.norpc
# go test vets each package it tests with a subset of vet's analyzers, the same work again as
# `make vet`'s full vet of every package and its tests (about half of a fresh clone's 269 s of
# vet runs, bench/BENCHMARKS.md §6). GOFLAGS applies -vet=off to go test only.
export GOFLAGS += -vet=off
# No DWARF and no ELF symbol table in what go links for make (test binaries, `go run` tools, the
# tests' own builds; -s implies -w): no check runs a debugger or reads symbols, and a stack trace
# needs only the runtime's own tables. DWARF took a third off each link (cmd/keyrotor's test
# binary: 2.7 → 1.8 CPU-s, 2 runs), the symbol table a further tenth (2.37-2.66 → 2.08-2.13
# CPU-s, 3 runs each), and a fresh `make test` links 77 times (bench/BENCHMARKS.md §6). A
# command's own -ldflags (the CLI's, the bootstraps') wins.
export GOFLAGS += -ldflags=-s

# TESTFLAGS goes to every go test make runs. Go's test cache reuses a passing package's result
# while its test binary, the environment variables it read and the files it opened or stat'ed
# are unchanged (the harness stats what its subprocesses run: bootstraps, CLI sources, Node and
# Python consumers; internal/harness/testutil/inputs.go). `make test TESTFLAGS=-count=1` runs
# everything again.
TESTFLAGS ?=

.PHONY: all tools build host test checks go-test go-test-root go-test-localaws go-test-ssmcreds layout aws-models-reset conformance consumers transcripts alarms attacks attacks-long vet lint-asl check-terraform lint-terraform demo faults bench aws-acceptance acceptance-local clean

all: build

tools:
	@scripts/install-tools.sh

# CLI_BUILD builds the CLI with the bootstraps' flags (scripts/build-functions.sh), so that it
# reuses their compiled packages, the AWS SDK above all: with the default flags a cold build of
# the CLI compiles its 350 packages again (349 compiles against 38, bench/BENCHMARKS.md §6).
# VERSION is what `keyrotor --version` prints: the nearest tag and the commit.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
CLI_BUILD := CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/keyrotor ./cmd/keyrotor

build:
	@scripts/build-functions.sh
	@if [ -f cmd/keyrotor/main.go ]; then $(CLI_BUILD); fi

# host builds what the local engine runs: the bootstraps for this machine and the CLI. The
# checks need no more: the arm64 packages Terraform deploys are `make build`'s, and layout's
# TestFunctionsCompileTheSameFilesForTheDeployedArchitecture holds that they compile the same
# keyrotor files as the host build the checks run.
host:
	@scripts/build-functions.sh host
	$(CLI_BUILD)

vet:
	go vet ./...
	cd ssmcreds && go vet ./...
	cd localaws && go vet ./...

# lint-asl runs asl-validator, AWS's ASL language service and keyrotor's ASL rules
# (internal/harness/aslrules) over every definition; prints `asl rules: N definitions, M problems`.
lint-asl: tools
	@scripts/lint-asl.sh

# check-terraform runs the Terraform checks (scripts/check-terraform.sh), tflint's and tfsec's
# rules among them in Go (internal/harness/infracheck); prints `infracheck lint: ...`.
check-terraform: tools
	@if [ -x scripts/check-terraform.sh ]; then scripts/check-terraform.sh; fi

# lint-terraform builds tflint and tfsec (pinned; minutes of CPU on a fresh machine, which is why
# make test does not) and runs their full rule sets over infra/, tfsec failing on HIGH/CRITICAL.
lint-terraform:
	@scripts/install-tools.sh terraform-linters
	@scripts/check-terraform.sh linters

# test runs every check and records its wall time in build/make-test.seconds (read by `make bench`).
# The checks run CHECK_JOBS at a time (each target's output is shown whole when it ends): go-test-root
# runs two packages at a time itself, and the suites beside it are one test process each. Three at
# a time ran a warm `make test TESTFLAGS=-count=1` in 341 s instead of about 410 s, but a fresh
# clone's first `make test`, which keeps both cores busy anyway, then took 18% more CPU
# (bench/BENCHMARKS.md §6); `make test CHECK_JOBS=3` is there for a warm tree.
CHECK_JOBS ?= 2
test:
	@start=$$(date +%s); $(MAKE) --no-print-directory -j$(CHECK_JOBS) --output-sync=target checks && mkdir -p build && \
		echo $$(( $$(date +%s) - start )) > build/make-test.seconds && \
		echo "make test: passed in $$(cat build/make-test.seconds) s"

# checks lists every check, the longest first; each check names what it needs, so that they may
# run side by side.
checks: go-test-root tools host go-test-localaws vet lint-asl check-terraform consumers alarms transcripts acceptance-local attacks conformance layout go-test-ssmcreds go-test

# Every check but vet starts after tools, so that the longest (go-test-root) starts as soon as
# npm's downloads are done, with vet beside them. make -j starts the first check it reaches that
# can run and waits for a free slot to do so: on a fresh clone (commit b454353) it reached the
# short checks that did not need tools first, and go-test-root started at 152 s of 410; waiting,
# they let it start at 48 s (bench/setup-notes.md, one run each). alarms, transcripts and
# acceptance-local need tools anyway: their local engines evaluate member roles' trust policies
# with scripts/npm's iam-simulate (internal/localenv), and on a fresh clone they could start while
# npm ci was still writing it.
alarms transcripts acceptance-local attacks layout go-test-ssmcreds: | tools

# go-test runs every package's tests except the conformance and consumer suites, which
# `conformance` and `consumers` run so that their summary lines are shown (go test drops a
# passing package's output in package-list mode), and the Terraform checks' packages, which
# check-terraform runs.
# Every request the tests send through the fault proxy, the Step Functions API and the Lambda
# API is checked against AWS's API models (localaws/awsmodel); each endpoint writes its counts
# to AWS_MODELS_DIR and `aws models: N operations, M requests checked, K refused` sums them. The
# directory is outside the tree and the same on every run: a test that wrote into the tree, or
# read a variable whose value changed each run, would never be cached; a cached package writes
# nothing, so the line counts the packages that ran.
# UNCACHED_LOCALAWS packages run with -count=1 on every `make test`, as what they test is outside
# what Go's test cache sees: lambdahost runs test Lambdas it builds from sources outside its test
# binary; faultproxy's trust-policy check runs Node on scripts/npm's packages, outside its module
# (and `layout`, below).
AWS_MODELS_DIR := $(or $(TMPDIR),/tmp)/keyrotor-aws-models-$(shell printf %s "$(CURDIR)" | cksum | cut -d' ' -f1)
AWS_MODELS_TALLY := KEYROTOR_AWS_MODELS_TALLY=$(AWS_MODELS_DIR)
TERRAFORM_PACKAGES := internal/harness/infracheck internal/harness/tfschema internal/deployed internal/harness/leastprivilege
SUITE_PACKAGES := internal/harness/conformance internal/harness/consumer internal/harness/alarms
UNCACHED_LOCALAWS := ./lambdahost ./faultproxy
# SLOW_FIRST are the root module's packages whose tests run longest, much of it waiting (the SDK's
# real backoffs inside the Lambdas, moto's answers), listed first so that go test starts them
# first and the other checks overlap them: listed in go list's order they ran last, and a fresh
# `make test` spent its last two minutes at about one core of two (bench/BENCHMARKS.md §6).
SLOW_FIRST := internal/localenv internal/rotation internal/harness/faults cmd/keyrotor functions/trigger
go-test: go-test-root go-test-localaws go-test-ssmcreds layout
	@if ls $(AWS_MODELS_DIR)/*.json >/dev/null 2>&1; then cd localaws && go run ./awsmodel/cmd/awsmodels-summary $(AWS_MODELS_DIR); \
		else echo "aws models: no request checked in this run (the packages that send them were cached; make test TESTFLAGS=-count=1 runs them)"; fi

# The go-test parts run side by side with the other checks; each that sends AWS requests tallies
# them into AWS_MODELS_DIR, emptied once before any of them starts.
aws-models-reset:
	rm -rf $(AWS_MODELS_DIR)

go-test-root: tools host aws-models-reset
	$(AWS_MODELS_TALLY) go test $(TESTFLAGS) -timeout $(GOTEST_TIMEOUT) -skip '^($(TRANSCRIPT_TEST)|TestAttackFuzzerHarmsNoBystander)$$' \
		$$( { go list $(SLOW_FIRST:%=./%); go list ./... | grep -v $(foreach p,$(TERRAFORM_PACKAGES) $(SUITE_PACKAGES) layout,-e '/$(p)$$'); } | awk '!seen[$$0]++')

go-test-localaws: tools host aws-models-reset
	cd localaws && $(AWS_MODELS_TALLY) go test $(TESTFLAGS) -timeout $(GOTEST_TIMEOUT) $$(go list ./... | grep -v $(foreach p,$(UNCACHED_LOCALAWS),-e '/localaws/$(p:./%=%)$$'))
	cd localaws && $(AWS_MODELS_TALLY) go test -count=1 $(TESTFLAGS) -timeout $(GOTEST_TIMEOUT) $(UNCACHED_LOCALAWS)

go-test-ssmcreds:
	cd ssmcreds && go test $(TESTFLAGS) ./...

# layout reads the whole tree through `go list` and `git ls-files`, which Go's test cache does
# not see: it runs every time.
layout:
	go test -count=1 $(TESTFLAGS) ./internal/harness/layout

# transcripts runs the README's and docs' command transcripts and cmd/keyrotor/testdata's scripts
# against the local engine (cmd/keyrotor/transcript_test.go) and prints
# `transcripts: N commands checked`; KEYROTOR_UPDATE_TRANSCRIPTS=1 recaptures the documents' outputs.
TRANSCRIPT_TEST := TestTranscriptsInTheDocsAndTheExitStatusOfEveryCommandHold
transcripts: host
	@mkdir -p build; go test $(TESTFLAGS) -v -run '^$(TRANSCRIPT_TEST)$$' ./cmd/keyrotor/ > build/transcripts.log 2>&1 \
		|| { cat build/transcripts.log; exit 1; }; grep -E '^transcripts:' build/transcripts.log

# attacks sends forged step requests built from real records (internal/rotation, issue 24) and
# prints `attacks: N forged requests, 0 bystanders harmed`; KEYROTOR_ATTACKS sets N (default 60),
# KEYROTOR_ATTACK_SEED replays a campaign; attacks-long sends 2000.
attacks: host
	@mkdir -p build; go test -count=1 $(TESTFLAGS) -timeout 60m -v -run '^TestAttackFuzzerHarmsNoBystander$$' ./internal/rotation/ > build/attacks.log 2>&1 \
		|| { grep -v '^=== RUN' build/attacks.log; exit 1; }; grep -E '^attacks:' build/attacks.log

attacks-long:
	KEYROTOR_ATTACKS=2000 $(MAKE) --no-print-directory attacks

# conformance runs each scenario in localaws/sfnlocal and in aws-local-stepfunctions and prints
# `conformance: N scenarios, M differences`, then the cases AWS recorded (internal/harness/conformance/recorded)
# in sfnlocal: `aws recorded: N cases, M differences`.
conformance: tools
	@mkdir -p build; go test -count=1 $(TESTFLAGS) -v ./internal/harness/conformance/ > build/conformance.log 2>&1 \
		|| { cat build/conformance.log; exit 1; }; grep -E '^(conformance|aws recorded):' build/conformance.log

# consumers runs the Go (ssmcreds), Node.js and Python (consumers/) consumers across three
# rotations each and prints, one line each, `consumer go|node|python: N requests, F failed,
# R rotations followed, E re-reads`.
consumers: tools host
	@mkdir -p build; go test $(TESTFLAGS) -timeout $(GOTEST_TIMEOUT) -v ./internal/harness/consumer/ > build/consumers.log 2>&1 \
		|| { cat build/consumers.log; exit 1; }; grep -E '^consumer (go|node|python):' build/consumers.log

# alarms runs ordinary rotations (with IAM propagation delay), failures and rejections on the
# local engine and feeds the functions' real log lines and the executions' status-change events
# through every metric filter, alarm and the failure rule of infra/modules/engine
# (internal/harness/alarms); prints `alarms: N scenarios, F false, M missed`.
alarms: host
	@mkdir -p build; go test $(TESTFLAGS) -v ./internal/harness/alarms/ > build/alarms.log 2>&1 \
		|| { cat build/alarms.log; exit 1; }; grep -E '^alarms:' build/alarms.log

# demo installs and builds only what the demo runs: moto, the host bootstraps and the CLI.
demo: host
	@scripts/install-tools.sh demo
	bin/keyrotor demo

# bench measures keyrotor on this machine and writes bench/results.json, bench/BENCHMARKS.md and
# bench/verify-latency.svg (about an hour, most of it the fleet plan 5000@40,1000x2,1000@40x2; `go run
# ./internal/harness/bench/cmd/keyrotor-bench --size tiny` for a check, `--fleet none` to skip the fleets).
bench: tools build
	go run ./internal/harness/bench/cmd/keyrotor-bench --json

# faults injects every fault kind (throttling, 500, AccessDenied, timeout, crash of the Lambda
# process) at every AWS call site of every function, through the state machine, and checks the
# invariants after each rotation; `make test` runs a reduced matrix (AccessDenied and crash).
faults: tools host
	@set -o pipefail; KEYROTOR_FAULTS=full go test -count=1 -timeout 40m -run '^TestFaultMatrix$$' -v ./internal/harness/faults/ | grep -v '^=== RUN'

# aws-acceptance deploys infra/examples/s3-signer into the account of the current AWS
# credentials, rotates with StartExecution, checks the consumer and searches state, outputs,
# histories and logs for the secret, then destroys; without terraform or credentials it says so.
aws-acceptance:
	@scripts/aws-acceptance.sh

# acceptance-local runs what aws-acceptance runs after its deploy (scripts/acceptance-checks.sh:
# StartExecution with the AWS CLI, the consumer's new key, the secret scan) against the local
# engine, so that the shared part is tested on every `make test`.
acceptance-local: host
	@scripts/acceptance-local.sh

clean:
	rm -rf build bin/keyrotor
