# The project's entry points. `make portability-matrix` runs the native cell; `make test` runs
# every test. Both install what they need first (scripts/bootstrap.sh).

CARGO ?= cargo
SEED ?=
ITERATIONS ?= 20
EVIDENCE ?= evidence
BIN := target/release/portability-matrix
SEED_ARG := $(if $(SEED),--seed $(SEED),)

.PHONY: portability-matrix portability-crash-harness test build bootstrap

bootstrap:
	@scripts/bootstrap.sh

build: bootstrap
	$(CARGO) build --release --locked

## The native cell: four steps on this machine's arch and default temp filesystem.
portability-matrix: build
	$(BIN) cell --evidence $(EVIDENCE) --iterations $(ITERATIONS) $(SEED_ARG)

## The crash harness alone; SEED=… reproduces a run, ITERATIONS=… sets its length.
portability-crash-harness: build
	$(BIN) crash-harness --iterations $(ITERATIONS) $(SEED_ARG)

## Every test: unit, conformance, CLI and evidence tests.
test: bootstrap
	$(CARGO) test --workspace --locked

## The release gate on the evidence folder; PHASE=phase2 and GATE_MODE=nightly change it.
PHASE ?= phase1
GATE_MODE ?= release
.PHONY: gate
gate: build
	$(BIN) gate --evidence-dir $(EVIDENCE) --phase $(PHASE) --mode $(GATE_MODE)
