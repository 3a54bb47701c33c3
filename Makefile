# tickwire's one entry point for every check. `make` lists the targets.
# CI (.ci/run) calls `make lint` and then the README's test command.

PYTHON ?= python
# The whole tree: ruff also formats the python blocks of the Markdown docs (README).
PY_SRC := .
STUB_ALLOWLIST := python/stubtest-allowlist.txt

.DEFAULT_GOAL := help
.PHONY: help develop format lint lint-python lint-rust typecheck test test-all bench wheel test-wheel

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

develop: ## build the extension in place and install the test extras (editable)
	$(PYTHON) -m pip install -e '.[test,dev]'

format: ## rewrite the sources in the house style (ruff, rustfmt) and apply safe lint fixes
	$(PYTHON) -m ruff format $(PY_SRC)
	$(PYTHON) -m ruff check --fix $(PY_SRC)
	cargo fmt

lint: lint-python lint-rust typecheck ## every static check: format, ruff, clippy, mypy, stubtest

lint-python: ## ruff format check and ruff lint
	$(PYTHON) -m ruff format --check $(PY_SRC)
	$(PYTHON) -m ruff check $(PY_SRC)

lint-rust: ## rustfmt check and clippy (pedantic, warnings are errors) with and without PyO3
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings

typecheck: ## mypy (strict) on the package and stubtest of the Rust extension against _core.pyi
	$(PYTHON) -m mypy python/tickwire
	$(PYTHON) -m mypy.stubtest tickwire._core --allowlist $(STUB_ALLOWLIST)

test: ## the fast suite: core tests in seconds (no simulator) and the Rust unit tests
	$(PYTHON) -m pytest -m "not e2e" -q
	cargo test -q

test-all: ## the whole suite, simulator end-to-end tests included (what CI runs)
	$(PYTHON) -m pytest
	cargo test

bench: ## benchmarks with their baselines measured in the same run
	tickwire bench all --rounds 5 --e2e
	$(PYTHON) -m pytest benches --benchmark-only -q
	cargo bench --bench core

wheel: ## the release wheel (abi3, CPython >= 3.10) into dist/
	rm -f dist/tickwire-*.whl
	maturin build --release --out dist

test-wheel: wheel ## install the wheel into a fresh virtualenv without Rust on PATH and run the tests
	bash .ci/test-wheel
