# The project's one test command is `make test`: every test, on a fresh machine.

.PHONY: test test-rust test-python test-fuzz-replay release study

test: test-rust test-python test-fuzz-replay

test-rust:
	cargo test --locked

# The Python analysis (analysis/): its tests run the release binary, so it is built first.
VENV := .venv
VENV_STAMP := $(VENV)/.requirements-installed

$(VENV_STAMP): analysis/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r analysis/requirements.txt
	touch $@

release:
	cargo build --release --locked

test-python: $(VENV_STAMP) release
	$(VENV)/bin/python -m pytest -q analysis/tests

# The fuzz targets' stable replay: the seed corpus and fixed-seed mutations of it through the
# network-file and mask parsers (coverage-guided fuzzing needs nightly: see the README).
test-fuzz-replay:
	cargo run --locked --manifest-path fuzz/Cargo.toml --example replay -- 2000

# The canonical study, as the README shows it.
study:
	cargo run --release --locked -- --trials 100000
