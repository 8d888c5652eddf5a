# Thin targets; scripts/setup.sh does the installing.
.PHONY: setup run test lint bench

# NOTE: set-up output goes to stderr, so `make run`'s stdout is the demo JSON alone.
setup:
	@bash scripts/setup.sh >&2

run: setup
	@.venv/bin/geopera-stac serve --demo --host 127.0.0.1 --port 8080

test:
	@bash scripts/setup.sh --test >&2
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check .

bench: setup
	bash benchmarks/run_all.sh
