#!/usr/bin/env bash
# The whole test suite: set-up, linters, layer contracts, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
scripts/services.sh
echo "== ruff"
.venv/bin/ruff check src tests bench
echo "== import-linter (layers of DESIGN.md section 4)"
.venv/bin/lint-imports
echo "== mypy (strict)"
.venv/bin/mypy
echo "== console unit tests (node --test)"
(cd frontend && npm test --silent)
echo "== pytest"
.venv/bin/pytest -q -p no:cacheprovider "$@"
