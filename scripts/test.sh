#!/usr/bin/env bash
# Sets up what the tests need (idempotent) and runs every test: unit, integration, e2e.
# Integration and e2e tests start real Kafka, Flink, the ClickHouse engine and Superset.
# Extra arguments go to pytest, e.g. scripts/test.sh -m unit
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
set +e
"${ERPBI_PATHS__CACHE_DIR:-$ROOT/.cache}/venvs/core/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$status"
