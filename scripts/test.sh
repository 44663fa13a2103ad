#!/usr/bin/env bash
# Sets up what the tests need (idempotent) and runs every test: unit, integration, e2e.
# Integration and e2e tests start real Kafka, Flink, the ClickHouse engine and Superset.
# Without arguments it first runs ruff check and mypy; extra arguments go to pytest alone,
# e.g. scripts/test.sh -m unit
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
PYTHON="${ERPBI_PATHS__CACHE_DIR:-$ROOT/.cache}/venvs/core/bin/python"
if [ "$#" -eq 0 ]; then
  # The whole suite (as CI runs it) starts with the house rules: lint, then types.
  echo "[test] ruff check" >&2
  "$PYTHON" -m ruff check .
  echo "[test] mypy (the packages in pyproject.toml [tool.mypy])" >&2
  "$PYTHON" -m mypy
fi
set +e
"$PYTHON" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$status"
