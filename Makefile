# The two commands of the README.
.PHONY: demo test setup lint

demo:            ## back up and restore a sample blog site (SQLite + uploads) on the embedded default
	scripts/setup.sh core
	.venv/bin/python scripts/demo.py

test:            ## the whole test suite (installs what it needs)
	scripts/test.sh

setup:
	scripts/setup.sh dev

lint:
	.venv/bin/ruff check src tests bench
	.venv/bin/lint-imports
	.venv/bin/mypy
