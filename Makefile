# The project's entry points. `make portability-matrix` runs the native cell; `make test` runs
# every test. Both install what they need first (scripts/bootstrap.sh).

# rustup installs into ~/.cargo/bin; make finds it there even before the shell is reloaded.
export PATH := $(HOME)/.cargo/bin:$(PATH)
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
	scripts/test.sh

## action.yml and the workflows against their JSON schemas, and actionlint.
.PHONY: lint-actions
lint-actions:
	scripts/lint-actions.sh

## The release gate on the evidence folder; POLICY=phase2 (or a file) and GATE_MODE=nightly change it.
POLICY ?= phase1
GATE_MODE ?= release
.PHONY: gate
gate: build
	$(BIN) gate --evidence-dir $(EVIDENCE) --policy $(POLICY) --mode $(GATE_MODE)
