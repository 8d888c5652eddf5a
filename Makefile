# Thin targets; scripts/setup.sh does the installing.
.PHONY: setup run test lint bench

setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/geopera-stac serve --demo --host 127.0.0.1 --port 8080

test: setup
	.venv/bin/python -m pytest

bench: setup
	bash benchmarks/run_all.sh
