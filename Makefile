# The project's one test command is `make test`: every test, on a fresh machine.

.PHONY: test test-rust study

test: test-rust

test-rust:
	cargo test --locked

# The canonical study, as the README shows it.
study:
	cargo run --release --locked -- --trials 100000
