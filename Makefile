# keyrotor: `make demo` runs a real rotation locally, `make test` runs every check.
SHELL := /bin/bash
export PATH := $(CURDIR)/bin:$(PATH)
GOTEST_TIMEOUT ?= 18m

.PHONY: all tools build test vet lint-asl check-terraform demo faults bench clean

all: build

tools:
	@scripts/install-tools.sh

build:
	@scripts/build-functions.sh
	@if [ -f cmd/keyrotor/main.go ]; then go build -o bin/keyrotor ./cmd/keyrotor; fi

vet:
	go vet ./...

lint-asl: tools
	@scripts/lint-asl.sh

check-terraform: tools
	@if [ -x scripts/check-terraform.sh ]; then scripts/check-terraform.sh; fi

test: tools build vet lint-asl check-terraform
	go test -count=1 -timeout $(GOTEST_TIMEOUT) ./...

demo: tools build
	go run ./cmd/keyrotor demo

# bench measures keyrotor on this machine and writes bench/results.json, bench/BENCHMARKS.md and
# bench/verify-latency.svg (a few minutes; `go run ./cmd/keyrotor bench --size tiny` for a check).
bench: tools build
	go run ./cmd/keyrotor bench --json

# faults injects every fault kind (throttling, 500, AccessDenied, timeout, crash, crash with
# retry) at every AWS call site of every function, through the state machine, and checks the
# invariants after each rotation; `make test` runs a reduced matrix (AccessDenied and crash).
faults: tools build
	@set -o pipefail; KEYROTOR_FAULTS=full go test -count=1 -timeout 40m -run '^TestFaultMatrix$$' -v ./internal/faults/ | grep -v '^=== RUN'

clean:
	rm -rf build bin/keyrotor
