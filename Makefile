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

# The full matrix (docs/matrix.md): architectures by Debian name, filesystems by mkfs name,
# extra ARCH/FS cells beyond the product, and extra `matrix` flags (e.g. --fail-on-skip seed).
MATRIX_ARCH ?= amd64 arm64 riscv64
MATRIX_FS ?= ext4 xfs
MATRIX_EXTRA ?=
MATRIX_FLAGS ?=
HOST_ARCH := $(shell dpkg --print-architecture 2>/dev/null || uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')
CROSS_ARCHES = $(sort $(HOST_ARCH) $(MATRIX_ARCH) $(foreach c,$(MATRIX_EXTRA),$(firstword $(subst /, ,$(c)))))

.PHONY: portability-matrix-full matrix-deps cross-build

bootstrap:
	@scripts/bootstrap.sh

## FEATURES=github adds the gate's GitHub transport (`gate --repo … --run-id …`); nothing local needs it.
FEATURES ?=
build: bootstrap
	$(CARGO) build --release --locked $(if $(FEATURES),--features $(FEATURES),)

## Puts the release binary on PATH as `portability-matrix`, as the docs write it:
## $(PREFIX)/bin, ~/.cargo/bin by default (rustup puts that on PATH).
PREFIX ?= $(HOME)/.cargo
.PHONY: install
install: build
	install -D -m 755 $(BIN) $(PREFIX)/bin/portability-matrix
	@echo "installed $(PREFIX)/bin/portability-matrix; if the shell cannot find it, add $(PREFIX)/bin to PATH"

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

## The release gate on the evidence folder, for this checkout's commit (evidence from another
## commit or a dirty tree is STALE); POLICY=phase2 (or a file), GATE_MODE=nightly and SHA=…
## change it. A missing cell is named with the command that makes it.
POLICY ?= phase1
GATE_MODE ?= release
SHA ?= $(shell git rev-parse HEAD 2>/dev/null)
.PHONY: gate
gate: build
	$(BIN) gate --evidence-dir $(EVIDENCE) --policy $(POLICY) --mode $(GATE_MODE) $(if $(SHA),--sha $(SHA),)

## Prerequisites of the full matrix: QEMU + binfmt_misc, mkfs.xfs, cross toolchains (root).
matrix-deps:
	@scripts/install-matrix-deps.sh

## Static cell binaries for every matrix architecture, in target/cross/<arch>/.
cross-build: bootstrap matrix-deps
	scripts/cross-build.sh $(CROSS_ARCHES)

## The full matrix on this machine: every MATRIX_ARCH x MATRIX_FS cell (plus MATRIX_EXTRA) on
## fresh loop filesystems, foreign architectures under QEMU. Needs root for the loop devices.
portability-matrix-full: cross-build
	target/cross/$(HOST_ARCH)/portability-matrix matrix --arch "$(MATRIX_ARCH)" --fs "$(MATRIX_FS)" \
	  $(foreach c,$(MATRIX_EXTRA),--extra-cell $(c)) --iterations $(ITERATIONS) \
	  --evidence $(EVIDENCE) --binaries target/cross $(SEED_ARG) $(MATRIX_FLAGS)
